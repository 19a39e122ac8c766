namespace Llama2.Engine.Kernels;

/// <summary>
/// Weights × activations: out[t, i] = Σ_k W[i, k] · x[t, k] for every row i of a row-major weight matrix (d × n)
/// and every token t of a batch (tokens × n, one row per token). One token is decoding (matrix × vector, bound by
/// reading the weights); a prompt is prefill (matrix × matrix, bound by arithmetic). The operations the forward pass
/// calls, on a <see cref="WeightMatrix"/> of any format:
/// <list type="bullet">
/// <item>fp32, bf16 and fp16: how the work is split is <see cref="GemmJob{TW}"/>'s, the arithmetic <see cref="Tiles"/>',
/// the 16-bit weights widened to fp32 as they are loaded, so that they give bit for bit what fp32 weights of the same
/// values give.</item>
/// <item>Q8_0: the activations are quantized once per operation as runq.c quantizes them
/// (<see cref="QuantizedActivations"/>; q, k and v share one, as W1 and W3 do), then <see cref="Q8GemmJob"/> and
/// <see cref="Q8Tiles"/> compute runq.c's sums bit for bit.</item>
/// </list>
/// <para>
/// Determinism: every output is the same dot product, computed the same way whatever the batch (see
/// <see cref="Tiles"/> and <see cref="Q8Tiles"/>), so a batch of tokens gives bit for bit what the tokens give one at a
/// time.
/// </para>
/// </summary>
public static unsafe class MatMul
{
    /// <summary>xout (tokens × d) = x (tokens × n) · Wᵀ, W being d × n.</summary>
    public static void Gemm(Span<float> xout, ReadOnlySpan<float> x, ReadOnlySpan<float> w, int n, int d, int tokens) =>
        Gemm(Simd.Width, xout, x, w, n, d, tokens);

    /// <summary>xout (tokens × d) += x (tokens × n) · Wᵀ: a projection added to the residual stream.</summary>
    public static void GemmAdd(Span<float> xout, ReadOnlySpan<float> x, ReadOnlySpan<float> w, int n, int d, int tokens) =>
        GemmAdd(Simd.Width, xout, x, w, n, d, tokens);

    /// <summary>
    /// The feed-forward's first half in one pass: h (tokens × hidden) = silu(x · W1ᵀ) ⊙ (x · W3ᵀ), the rows of W1 and
    /// W3 read side by side.
    /// </summary>
    public static void SwiGlu(Span<float> h, ReadOnlySpan<float> x, ReadOnlySpan<float> w1, ReadOnlySpan<float> w3,
        int n, int hidden, int tokens) =>
        SwiGlu(Simd.Width, h, x, w1, w3, n, hidden, tokens);

    /// <summary>
    /// Three projections of the same activations in one dispatch (attention's q, k and v):
    /// q (tokens × dq) = x · Wqᵀ, k (tokens × dk) = x · Wkᵀ, v (tokens × dv) = x · Wvᵀ.
    /// </summary>
    public static void Gemm3(ReadOnlySpan<float> x, int n, int tokens,
        ReadOnlySpan<float> wq, Span<float> q, int dq,
        ReadOnlySpan<float> wk, Span<float> k, int dk,
        ReadOnlySpan<float> wv, Span<float> v, int dv) =>
        Gemm3(Simd.Width, x, n, tokens, wq, q, dq, wk, k, dk, wv, v, dv);

    /// <summary>xout (tokens × W.Rows) = x (tokens × W.Columns) · Wᵀ. <paramref name="quantized"/> is scratch for Q8_0.</summary>
    internal static void Gemm(Span<float> xout, ReadOnlySpan<float> x, in WeightMatrix w, int tokens, QuantizedActivations quantized) =>
        Single(Epilogue.Store, x, tokens, w, default, xout, quantized, -1);

    /// <summary>xout (tokens × W.Rows) += x · Wᵀ: a projection added to the residual stream.</summary>
    internal static void GemmAdd(Span<float> xout, ReadOnlySpan<float> x, in WeightMatrix w, int tokens, QuantizedActivations quantized) =>
        Single(Epilogue.Add, x, tokens, w, default, xout, quantized, -1);

    /// <summary>h (tokens × hidden) = silu(x · W1ᵀ) ⊙ (x · W3ᵀ).</summary>
    internal static void SwiGlu(Span<float> h, ReadOnlySpan<float> x, in WeightMatrix w1, in WeightMatrix w3, int tokens,
        QuantizedActivations quantized) =>
        Single(Epilogue.SwiGlu, x, tokens, w1, w3, h, quantized, -1);

    /// <summary>
    /// q = x · Wqᵀ, k = x · Wkᵀ, v = x · Wvᵀ in one dispatch (and, for Q8_0, one quantization of x); three dispatches when
    /// the matrices are stored in different formats.
    /// </summary>
    internal static void Gemm3(ReadOnlySpan<float> x, int tokens, in WeightMatrix wq, Span<float> q, in WeightMatrix wk, Span<float> k,
        in WeightMatrix wv, Span<float> v, QuantizedActivations quantized, int width = -1)
    {
        if (wk.Format != wq.Format || wv.Format != wq.Format || wk.GroupSize != wq.GroupSize || wv.GroupSize != wq.GroupSize)
        {
            Single(Epilogue.Store, x, tokens, wq, default, q, quantized, width);
            Single(Epilogue.Store, x, tokens, wk, default, k, quantized, width);
            Single(Epilogue.Store, x, tokens, wv, default, v, quantized, width);
            return;
        }
        switch (wq.Format)
        {
            case WeightFormat.F32: Gemm3<Fp32Weight>(x, tokens, wq, q, wk, k, wv, v, width); return;
            case WeightFormat.BF16: Gemm3<BFloat16Weight>(x, tokens, wq, q, wk, k, wv, v, width); return;
            case WeightFormat.F16: Gemm3<HalfWeight>(x, tokens, wq, q, wk, k, wv, v, width); return;
        }
        CheckQ8(x, tokens, wq, q);
        CheckQ8(x, tokens, wk, k);
        CheckQ8(x, tokens, wv, v);
        quantized.Quantize(x, wq.Columns, tokens, wq.GroupSize);
        fixed (float* pq = q, pk = k, pv = v)
            RunQ8(new Q8GemmJob(width < 0 ? Q8Simd.WidthFor(wq.GroupSize) : width, Epilogue.Store, quantized,
                new Q8Projection(wq, default, pq), new Q8Projection(wk, default, pk), new Q8Projection(wv, default, pv)));
    }

    /// <summary>One matrix (and W3 for SwiGLU) of any format against x; width −1 = the CPU's.</summary>
    internal static void Single(Epilogue mode, ReadOnlySpan<float> x, int tokens, in WeightMatrix w, in WeightMatrix w3,
        Span<float> xout, QuantizedActivations quantized, int width)
    {
        if (mode == Epilogue.SwiGlu && (w3.Format != w.Format || w3.Rows != w.Rows || w3.Columns != w.Columns || w3.GroupSize != w.GroupSize))
            throw new ArgumentException("W1 and W3 differ in format or shape");
        switch (w.Format)
        {
            case WeightFormat.F32: Single<Fp32Weight>(mode, x, tokens, w, w3, xout, width); return;
            case WeightFormat.BF16: Single<BFloat16Weight>(mode, x, tokens, w, w3, xout, width); return;
            case WeightFormat.F16: Single<HalfWeight>(mode, x, tokens, w, w3, xout, width); return;
        }
        CheckQ8(x, tokens, w, xout);
        quantized.Quantize(x, w.Columns, tokens, w.GroupSize);
        fixed (float* pout = xout)
            RunQ8(new Q8GemmJob(width < 0 ? Q8Simd.WidthFor(w.GroupSize) : width, mode, quantized,
                new Q8Projection(w, w3, pout), default, default));
    }

    // The float formats (fp32, bf16, fp16): one job over the stored weights, widened as they are loaded.

    static void Single<TW>(Epilogue mode, ReadOnlySpan<float> x, int tokens, in WeightMatrix w, in WeightMatrix w3,
        Span<float> xout, int width) where TW : unmanaged, IWeightElement<TW>
    {
        CheckFloat(x, tokens, w, xout);
        fixed (float* px = x, pout = xout)
            Run(new GemmJob<TW>(width < 0 ? Simd.Width : width, mode, px, w.Columns, tokens,
                new Projection<TW>(w.Elements<TW>(), mode == Epilogue.SwiGlu ? w3.Elements<TW>() : null, w.Rows, pout), default, default));
    }

    static void Gemm3<TW>(ReadOnlySpan<float> x, int tokens, in WeightMatrix wq, Span<float> q, in WeightMatrix wk, Span<float> k,
        in WeightMatrix wv, Span<float> v, int width) where TW : unmanaged, IWeightElement<TW>
    {
        CheckFloat(x, tokens, wq, q);
        CheckFloat(x, tokens, wk, k);
        CheckFloat(x, tokens, wv, v);
        if (wk.Columns != wq.Columns || wv.Columns != wq.Columns) throw new ArgumentException("the three matrices have different widths");
        fixed (float* px = x, pq = q, pk = k, pv = v)
            Run(new GemmJob<TW>(width < 0 ? Simd.Width : width, Epilogue.Store, px, wq.Columns, tokens,
                new Projection<TW>(wq.Elements<TW>(), null, wq.Rows, pq), new Projection<TW>(wk.Elements<TW>(), null, wk.Rows, pk),
                new Projection<TW>(wv.Elements<TW>(), null, wv.Rows, pv)));
    }

    static void CheckFloat(ReadOnlySpan<float> x, int tokens, in WeightMatrix w, Span<float> xout)
    {
        if (tokens <= 0 || x.Length < (long)w.Columns * tokens || xout.Length < (long)w.Rows * tokens)
            throw new ArgumentException("matrix and vector sizes do not match");
    }

    static void RunQ8(Q8GemmJob job) => Workers.For(job.Blocks, ref job, oneSharePerThread: job.StreamsWeights);

    static void CheckQ8(ReadOnlySpan<float> x, int tokens, in WeightMatrix w, Span<float> xout)
    {
        if (w.Format != WeightFormat.Q8_0) throw new ArgumentException($"a {w.Format} matrix among Q8_0 ones");
        if (tokens <= 0 || x.Length < (long)w.Columns * tokens || xout.Length < (long)w.Rows * tokens)
            throw new ArgumentException("matrix and vector sizes do not match");
    }

    // The fp32 operations at a given vector width (16, 8, 4 or 1), so that tests can check every rung of the ladder.

    internal static void Gemm(int width, Span<float> xout, ReadOnlySpan<float> x, ReadOnlySpan<float> w, int n, int d, int tokens) =>
        Single(width, Epilogue.Store, x, n, tokens, w, default, xout, d);

    internal static void GemmAdd(int width, Span<float> xout, ReadOnlySpan<float> x, ReadOnlySpan<float> w, int n, int d, int tokens) =>
        Single(width, Epilogue.Add, x, n, tokens, w, default, xout, d);

    internal static void SwiGlu(int width, Span<float> h, ReadOnlySpan<float> x, ReadOnlySpan<float> w1, ReadOnlySpan<float> w3,
        int n, int hidden, int tokens)
    {
        if (w3.Length < (long)n * hidden) throw new ArgumentException("matrix and vector sizes do not match");
        Single(width, Epilogue.SwiGlu, x, n, tokens, w1, w3, h, hidden);
    }

    internal static void Gemm3(int width, ReadOnlySpan<float> x, int n, int tokens,
        ReadOnlySpan<float> wq, Span<float> q, int dq,
        ReadOnlySpan<float> wk, Span<float> k, int dk,
        ReadOnlySpan<float> wv, Span<float> v, int dv)
    {
        Check(x, n, tokens, wq, q, dq);
        Check(x, n, tokens, wk, k, dk);
        Check(x, n, tokens, wv, v, dv);
        fixed (float* px = x, pwq = wq, pq = q, pwk = wk, pk = k, pwv = wv, pv = v)
            Run(new GemmJob<Fp32Weight>(width, Epilogue.Store, px, n, tokens,
                new Projection<Fp32Weight>((Fp32Weight*)pwq, null, dq, pq), new Projection<Fp32Weight>((Fp32Weight*)pwk, null, dk, pk),
                new Projection<Fp32Weight>((Fp32Weight*)pwv, null, dv, pv)));
    }

    /// <summary>One weight matrix (and W3 for SwiGLU) against x.</summary>
    static void Single(int width, Epilogue mode, ReadOnlySpan<float> x, int n, int tokens, ReadOnlySpan<float> w, ReadOnlySpan<float> w3,
        Span<float> xout, int d)
    {
        Check(x, n, tokens, w, xout, d);
        fixed (float* px = x, pw = w, pw3 = w3, pout = xout)
            Run(new GemmJob<Fp32Weight>(width, mode, px, n, tokens, new Projection<Fp32Weight>((Fp32Weight*)pw, (Fp32Weight*)pw3, d, pout), default, default));
    }

    static void Run<TW>(GemmJob<TW> job) where TW : unmanaged, IWeightElement<TW> => Workers.For(job.Blocks, ref job, oneSharePerThread: job.StreamsWeights);

    static void Check(ReadOnlySpan<float> x, int n, int tokens, ReadOnlySpan<float> w, Span<float> xout, int d)
    {
        if (n <= 0 || d < 0 || tokens <= 0 || w.Length < (long)n * d || x.Length < (long)n * tokens || xout.Length < (long)d * tokens)
            throw new ArgumentException("matrix and vector sizes do not match");
    }
}

namespace Llama2.Engine.Kernels;

/// <summary>
/// Weights × activations: out[t, i] = Σ_k W[i, k] · x[t, k] for every row i of a row-major weight matrix (d × n)
/// and every token t of a batch (tokens × n, one row per token). One token is decoding (matrix × vector, bound by
/// reading the weights); a prompt is prefill (matrix × matrix, bound by arithmetic). The operations the forward pass
/// calls, on a <see cref="WeightMatrix"/> of any format:
/// <list type="bullet">
/// <item>fp32: how the work is split is <see cref="GemmJob"/>'s, the arithmetic <see cref="Tiles"/>'.</item>
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

    /// <summary>q = x · Wqᵀ, k = x · Wkᵀ, v = x · Wvᵀ in one dispatch (and, for Q8_0, one quantization of x).</summary>
    internal static void Gemm3(ReadOnlySpan<float> x, int tokens, in WeightMatrix wq, Span<float> q, in WeightMatrix wk, Span<float> k,
        in WeightMatrix wv, Span<float> v, QuantizedActivations quantized, int width = -1)
    {
        if (wq.Format == WeightFormat.F32 && wk.Format == WeightFormat.F32 && wv.Format == WeightFormat.F32)
        {
            fixed (float* pwq = wq.Floats, pwk = wk.Floats, pwv = wv.Floats)
                Gemm3(width < 0 ? Simd.Width : width, x, wq.Columns, tokens,
                    new ReadOnlySpan<float>(pwq, wq.Rows * wq.Columns), q, wq.Rows,
                    new ReadOnlySpan<float>(pwk, wk.Rows * wk.Columns), k, wk.Rows,
                    new ReadOnlySpan<float>(pwv, wv.Rows * wv.Columns), v, wv.Rows);
            return;
        }
        CheckQ8(x, tokens, wq, q);
        CheckQ8(x, tokens, wk, k);
        CheckQ8(x, tokens, wv, v);
        if (wk.GroupSize != wq.GroupSize || wv.GroupSize != wq.GroupSize) throw new ArgumentException("the three matrices have different group sizes");
        quantized.Quantize(x, wq.Columns, tokens, wq.GroupSize);
        fixed (float* pq = q, pk = k, pv = v)
            RunQ8(new Q8GemmJob(width < 0 ? Q8Simd.WidthFor(wq.GroupSize) : width, Epilogue.Store, quantized,
                new Q8Projection(wq, default, pq), new Q8Projection(wk, default, pk), new Q8Projection(wv, default, pv)));
    }

    /// <summary>One matrix (and W3 for SwiGLU) of either format against x; width −1 = the CPU's.</summary>
    internal static void Single(Epilogue mode, ReadOnlySpan<float> x, int tokens, in WeightMatrix w, in WeightMatrix w3,
        Span<float> xout, QuantizedActivations quantized, int width)
    {
        if (w.Format == WeightFormat.F32)
        {
            fixed (float* pw = w.Floats)
            fixed (float* pw3 = mode == Epilogue.SwiGlu ? w3.Floats : default)
                Single(width < 0 ? Simd.Width : width, mode, x, w.Columns, tokens,
                    new ReadOnlySpan<float>(pw, w.Rows * w.Columns), new ReadOnlySpan<float>(pw3, mode == Epilogue.SwiGlu ? w.Rows * w.Columns : 0),
                    xout, w.Rows);
            return;
        }
        CheckQ8(x, tokens, w, xout);
        if (mode == Epilogue.SwiGlu && (w3.Format != WeightFormat.Q8_0 || w3.Rows != w.Rows || w3.Columns != w.Columns || w3.GroupSize != w.GroupSize))
            throw new ArgumentException("W1 and W3 differ in format or shape");
        quantized.Quantize(x, w.Columns, tokens, w.GroupSize);
        fixed (float* pout = xout)
            RunQ8(new Q8GemmJob(width < 0 ? Q8Simd.WidthFor(w.GroupSize) : width, mode, quantized,
                new Q8Projection(w, w3, pout), default, default));
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
            Run(new GemmJob(width, Epilogue.Store, px, n, tokens,
                new Projection(pwq, null, dq, pq), new Projection(pwk, null, dk, pk), new Projection(pwv, null, dv, pv)));
    }

    /// <summary>One weight matrix (and W3 for SwiGLU) against x.</summary>
    static void Single(int width, Epilogue mode, ReadOnlySpan<float> x, int n, int tokens, ReadOnlySpan<float> w, ReadOnlySpan<float> w3,
        Span<float> xout, int d)
    {
        Check(x, n, tokens, w, xout, d);
        fixed (float* px = x, pw = w, pw3 = w3, pout = xout)
            Run(new GemmJob(width, mode, px, n, tokens, new Projection(pw, pw3, d, pout), default, default));
    }

    static void Run(GemmJob job) => Workers.For(job.Blocks, ref job, oneSharePerThread: job.StreamsWeights);

    static void Check(ReadOnlySpan<float> x, int n, int tokens, ReadOnlySpan<float> w, Span<float> xout, int d)
    {
        if (n <= 0 || d < 0 || tokens <= 0 || w.Length < (long)n * d || x.Length < (long)n * tokens || xout.Length < (long)d * tokens)
            throw new ArgumentException("matrix and vector sizes do not match");
    }
}

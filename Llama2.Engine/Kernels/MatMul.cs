namespace Llama2.Engine.Kernels;

/// <summary>
/// Weights × activations: out[t, i] = Σ_k W[i, k] · x[t, k] for every row i of a row-major weight matrix (d × n)
/// and every token t of a batch (tokens × n, one row per token). One token is decoding (matrix × vector, bound by
/// reading the weights); a prompt is prefill (matrix × matrix, bound by arithmetic). The operations the forward pass
/// calls; how the work is split is <see cref="GemmJob"/>'s, the arithmetic <see cref="Tiles"/>'.
/// <para>
/// Determinism: every output is the same dot product, computed the same way whatever the batch (see
/// <see cref="Tiles"/>), so a batch of tokens gives bit for bit what the tokens give one at a time.
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

    // The operations at a given vector width (16, 8, 4 or 1), so that tests can check every rung of the ladder.

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

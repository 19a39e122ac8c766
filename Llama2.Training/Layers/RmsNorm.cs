using Llama2.Training.Diagnostics;
using System.Numerics;
using System.Numerics.Tensors;
using Llama2.Engine.Kernels;

namespace Llama2.Training.Layers;

/// <summary>
/// RMSNorm over each token's row: y = w ⊙ x · r with r = 1 / √(mean(x²) + ε), ε = 1e-5 (model.py's norm_eps), as
/// the engine's <see cref="Ops.RmsNorm"/> computes it (the same sum of squares, x · r, then · w).
/// </summary>
internal static unsafe class RmsNorm
{
    /// <summary>y = RMSNorm(x) · w for each of the tokens' rows; rstd[t] keeps each row's r for the backward pass.</summary>
    public static void Forward(Span<float> y, Span<float> rstd, ReadOnlySpan<float> x, ReadOnlySpan<float> w, int tokens, int dim)
    {
        using var timing = OperationTimes.Measure(Operation.RmsNormForward);
        Check(y.Length, rstd.Length, x.Length, w.Length, tokens, dim);
        fixed (float* py = y, pr = rstd, px = x, pw = w)
        {
            var job = new ForwardJob(py, pr, px, pw, dim);
            Workers.For(tokens, ref job);
        }
    }

    /// <summary>
    /// dx += ∂L/∂x and dw += ∂L/∂w, given dy = ∂L/∂y and the forward pass's x and rstd. For a row,
    /// dx = r (g − x r² (g · x) / dim) with g = dy ⊙ w; dw sums dy ⊙ x r over the tokens, in token order.
    /// </summary>
    public static void Backward(Span<float> dx, Span<float> dw, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> w,
        ReadOnlySpan<float> rstd, int tokens, int dim)
    {
        using var timing = OperationTimes.Measure(Operation.RmsNormBackward);
        Check(dx.Length, rstd.Length, x.Length, w.Length, tokens, dim);
        if (dy.Length < (long)tokens * dim || dw.Length < dim) throw new ArgumentException("RMSNorm gradient sizes do not match");
        fixed (float* pdx = dx, pdw = dw, pdy = dy, px = x, pw = w, pr = rstd)
        {
            var job = new BackwardJob(pdx, pdy, px, pw, pr, dim);
            Workers.For(tokens, ref job);
            for (int t = 0; t < tokens; t++) MultiplyAdd(pdy + (long)t * dim, px + (long)t * dim, pr[t], pdw, dim);
        }
    }

    static void Check(int y, int rstd, int x, int w, int tokens, int dim)
    {
        if (tokens < 0 || dim <= 0 || y < (long)tokens * dim || x < (long)tokens * dim || rstd < tokens || w < dim)
            throw new ArgumentException("RMSNorm sizes do not match");
    }

    readonly struct ForwardJob(float* y, float* rstd, float* x, float* w, int dim) : IRowJob
    {
        public long CostPerRow => 3L * dim;

        public void Run(int start, int end)
        {
            for (int t = start; t < end; t++)
            {
                float* px = x + (long)t * dim, py = y + (long)t * dim;
                float r = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(new ReadOnlySpan<float>(px, dim)) / dim + Ops.RmsNormEpsilon);
                rstd[t] = r;
                int i = 0;
                if (Vector.IsHardwareAccelerated)
                {
                    var vr = new Vector<float>(r);
                    for (; i <= dim - Vector<float>.Count; i += Vector<float>.Count)
                        (Vector.Load(px + i) * vr * Vector.Load(w + i)).Store(py + i);
                }
                for (; i < dim; i++) py[i] = px[i] * r * w[i];
            }
        }
    }

    readonly struct BackwardJob(float* dx, float* dy, float* x, float* w, float* rstd, int dim) : IRowJob
    {
        public long CostPerRow => 6L * dim;

        public void Run(int start, int end)
        {
            for (int t = start; t < end; t++)
            {
                long o = (long)t * dim;
                float r = rstd[t];
                float c = r * r * r * Dot3(dy + o, w, x + o, dim) / dim;
                // dx += r (dy ⊙ w) − c x
                float* pdx = dx + o, pdy = dy + o, px = x + o;
                int i = 0;
                if (Vector.IsHardwareAccelerated)
                {
                    var vr = new Vector<float>(r);
                    var vc = new Vector<float>(c);
                    for (; i <= dim - Vector<float>.Count; i += Vector<float>.Count)
                    {
                        var g = Vector.Load(pdy + i) * Vector.Load(w + i);
                        (Vector.Load(pdx + i) + g * vr - Vector.Load(px + i) * vc).Store(pdx + i);
                    }
                }
                for (; i < dim; i++) pdx[i] += pdy[i] * w[i] * r - px[i] * c;
            }
        }
    }

    /// <summary>Σ a ⊙ b ⊙ c over n elements, summed the same way every time.</summary>
    static float Dot3(float* a, float* b, float* c, int n)
    {
        int i = 0;
        float sum = 0f;
        if (Vector.IsHardwareAccelerated && n >= Vector<float>.Count)
        {
            var acc = Vector<float>.Zero;
            for (; i <= n - Vector<float>.Count; i += Vector<float>.Count)
                acc += Vector.Load(a + i) * Vector.Load(b + i) * Vector.Load(c + i);
            sum = Vector.Sum(acc);
        }
        for (; i < n; i++) sum += a[i] * b[i] * c[i];
        return sum;
    }

    /// <summary>acc += a ⊙ b · s over n elements.</summary>
    static void MultiplyAdd(float* a, float* b, float s, float* acc, int n)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var vs = new Vector<float>(s);
            for (; i <= n - Vector<float>.Count; i += Vector<float>.Count)
                (Vector.Load(acc + i) + Vector.Load(a + i) * Vector.Load(b + i) * vs).Store(acc + i);
        }
        for (; i < n; i++) acc[i] += a[i] * b[i] * s;
    }
}

using Llama2.Training.Diagnostics;
using System.Numerics;
using System.Runtime.Intrinsics;
using Llama2.Engine.Kernels;

namespace Llama2.Training.Layers;

/// <summary>
/// The feed-forward's gate: g = silu(h1) ⊙ h3, with h1 = x · W1ᵀ, h3 = x · W3ᵀ, silu(a) = a σ(a). Backward:
/// dh3 = dg ⊙ silu(h1), dh1 = dg ⊙ h3 ⊙ σ(h1) (1 + h1 (1 − σ(h1))).
/// </summary>
internal static unsafe class SwiGlu
{
    /// <summary>g = silu(h1) ⊙ h3, rows of width elements.</summary>
    public static void Forward(Span<float> g, ReadOnlySpan<float> h1, ReadOnlySpan<float> h3, int tokens, int width)
    {
        using var timing = OperationTimes.Measure(Operation.SwiGluForward);
        Check(tokens, width, g.Length, h1.Length, h3.Length);
        fixed (float* pg = g, p1 = h1, p3 = h3)
        {
            var job = new Job(pg, null, null, p1, p3, width);
            Workers.For(tokens, ref job);
        }
    }

    /// <summary>dh1 and dh3 (overwritten) from dg and the forward pass's h1 and h3. dh1 may be dg itself.</summary>
    public static void Backward(Span<float> dh1, Span<float> dh3, ReadOnlySpan<float> dg, ReadOnlySpan<float> h1, ReadOnlySpan<float> h3,
        int tokens, int width)
    {
        using var timing = OperationTimes.Measure(Operation.SwiGluBackward);
        Check(tokens, width, dh1.Length, h1.Length, h3.Length);
        Check(tokens, width, dh3.Length, dg.Length, dg.Length);
        fixed (float* pd1 = dh1, pd3 = dh3, pdg = dg, p1 = h1, p3 = h3)
        {
            var job = new Job(pdg, pd1, pd3, p1, p3, width);
            Workers.For(tokens, ref job);
        }
    }

    static void Check(int tokens, int width, int a, int b, int c)
    {
        long n = (long)tokens * width;
        if (tokens < 0 || width <= 0 || a < n || b < n || c < n) throw new ArgumentException("SwiGLU sizes do not match");
    }

    /// <summary>Forward when dh1 is null (g written), backward otherwise (g read as dg).</summary>
    readonly struct Job(float* g, float* dh1, float* dh3, float* h1, float* h3, int width) : IRowJob
    {
        public long CostPerRow => 16L * width;

        public void Run(int start, int end)
        {
            for (int t = start; t < end; t++)
            {
                long o = (long)t * width;
                if (dh1 is null) ForwardRow(g + o, h1 + o, h3 + o, width);
                else BackwardRow(dh1 + o, dh3 + o, g + o, h1 + o, h3 + o, width);
            }
        }
    }

    /// <summary>g = silu(h1) ⊙ h3 with the engine's silu (glibc's expf, bit for bit, four at a time), as the model will run.</summary>
    static void ForwardRow(float* g, float* h1, float* h3, int n)
    {
        int i = 0;
        if (Exp.IsVectorized)
            for (; i <= n - 4; i += 4)
                (Ops.Silu(Vector128.Load(h1 + i)) * Vector128.Load(h3 + i)).Store(g + i);
        for (; i < n; i++) g[i] = Ops.Silu(h1[i]) * h3[i];
    }

    static void BackwardRow(float* dh1, float* dh3, float* dg, float* h1, float* h3, int n)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            for (; i <= n - Vector<float>.Count; i += Vector<float>.Count)
            {
                var a = Vector.Load(h1 + i);
                var d = Vector.Load(dg + i);
                var sig = Vector<float>.One / (Vector<float>.One + Vector.Exp(-a));
                (d * (a * sig)).Store(dh3 + i);
                (d * Vector.Load(h3 + i) * sig * (Vector<float>.One + a * (Vector<float>.One - sig))).Store(dh1 + i);
            }
        }
        for (; i < n; i++)
        {
            float a = h1[i], d = dg[i], sig = 1f / (1f + MathF.Exp(-a));
            dh3[i] = d * (a * sig);
            dh1[i] = d * h3[i] * sig * (1f + a * (1f - sig));
        }
    }
}

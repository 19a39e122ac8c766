using System.Numerics;
using System.Runtime.Intrinsics;
using Llama2.Engine.Kernels;
using Llama2.Training.Diagnostics;

namespace Llama2.Training.Layers;

/// <summary>
/// The feed-forward's gate: g = silu(h1) ⊙ h3, with h1 = x · W1ᵀ, h3 = x · W3ᵀ, silu(a) = a σ(a). Backward:
/// dh3 = dg ⊙ silu(h1), dh1 = dg ⊙ h3 ⊙ σ(h1) (1 + h1 (1 − σ(h1))). The forward pass keeps σ(h1) for the backward.
/// </summary>
internal static unsafe class SwiGlu
{
    /// <summary>
    /// g = silu(h1) ⊙ h3 and sigmoid = σ(h1), rows of width elements. silu is the engine's (σ through glibc's expf,
    /// bit for bit, then a · σ), as the model will run.
    /// </summary>
    public static void Forward(Span<float> g, Span<float> sigmoid, ReadOnlySpan<float> h1, ReadOnlySpan<float> h3, int tokens, int width)
    {
        using var timing = OperationTimes.Measure(Operation.SwiGluForward);
        Check(tokens, width, g.Length, sigmoid.Length, h1.Length, h3.Length);
        fixed (float* pg = g, ps = sigmoid, p1 = h1, p3 = h3)
        {
            var job = new Job(pg, ps, null, null, p1, p3, width);
            Workers.For(tokens, ref job);
        }
    }

    /// <summary>dh1 and dh3 (overwritten) from dg and the forward pass's h1, h3 and σ(h1). dh1 may be dg itself.</summary>
    public static void Backward(Span<float> dh1, Span<float> dh3, ReadOnlySpan<float> dg, ReadOnlySpan<float> h1, ReadOnlySpan<float> h3,
        ReadOnlySpan<float> sigmoid, int tokens, int width)
    {
        using var timing = OperationTimes.Measure(Operation.SwiGluBackward);
        Check(tokens, width, dh1.Length, dh3.Length, h1.Length, h3.Length);
        Check(tokens, width, dg.Length, sigmoid.Length, h1.Length, h3.Length);
        fixed (float* pd1 = dh1, pd3 = dh3, pdg = dg, p1 = h1, p3 = h3, ps = sigmoid)
        {
            var job = new Job(pdg, ps, pd1, pd3, p1, p3, width);
            Workers.For(tokens, ref job);
        }
    }

    static void Check(int tokens, int width, int a, int b, int c, int d)
    {
        long n = (long)tokens * width;
        if (tokens < 0 || width <= 0 || a < n || b < n || c < n || d < n) throw new ArgumentException("SwiGLU sizes do not match");
    }

    /// <summary>Forward when dh1 is null (g and σ written), backward otherwise (g read as dg).</summary>
    readonly struct Job(float* g, float* sigmoid, float* dh1, float* dh3, float* h1, float* h3, int width) : IRowJob
    {
        public long CostPerRow => 16L * width;

        public void Run(int start, int end)
        {
            for (int t = start; t < end; t++)
            {
                long o = (long)t * width;
                if (dh1 is null) ForwardRow(g + o, sigmoid + o, h1 + o, h3 + o, width);
                else BackwardRow(dh1 + o, dh3 + o, g + o, h1 + o, h3 + o, sigmoid + o, width);
            }
        }
    }

    /// <summary>σ = 1 / (1 + e^(−a)) and g = (a · σ) ⊙ h3: <see cref="Ops.Silu(float)"/>'s operations, four at a time.</summary>
    static void ForwardRow(float* g, float* sigmoid, float* h1, float* h3, int n)
    {
        int i = 0;
        if (Exp.IsVectorized)
            for (; i <= n - 4; i += 4)
            {
                var a = Vector128.Load(h1 + i);
                var s = Vector128<float>.One / (Vector128<float>.One + Exp.Four(-a));
                s.Store(sigmoid + i);
                (a * s * Vector128.Load(h3 + i)).Store(g + i);
            }
        for (; i < n; i++)
        {
            float s = 1f / (1f + MathF.Exp(-h1[i]));
            sigmoid[i] = s;
            g[i] = h1[i] * s * h3[i];
        }
    }

    static void BackwardRow(float* dh1, float* dh3, float* dg, float* h1, float* h3, float* sigmoid, int n)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            for (; i <= n - Vector<float>.Count; i += Vector<float>.Count)
            {
                var a = Vector.Load(h1 + i);
                var d = Vector.Load(dg + i);
                var s = Vector.Load(sigmoid + i);
                (d * (a * s)).Store(dh3 + i);
                (d * Vector.Load(h3 + i) * s * (Vector<float>.One + a * (Vector<float>.One - s))).Store(dh1 + i);
            }
        }
        for (; i < n; i++)
        {
            float a = h1[i], d = dg[i], s = sigmoid[i];
            dh3[i] = d * (a * s);
            dh1[i] = d * h3[i] * s * (1f + a * (1f - s));
        }
    }
}

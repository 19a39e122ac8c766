using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Llama2.Engine.Kernels;

namespace Llama2.Bench;

/// <summary>
/// How fast the kernel threads can multiply-add right now: each runs twelve independent chains of fused
/// multiply-adds at the kernels' vector width, nothing else. Prefill is bound by arithmetic, so this is its ceiling,
/// as the checkpoint read is decode's; on a virtual machine it moves too (a busy sibling hyperthread halves it), and
/// quoting it beside prefill figures says how close to the machine they are.
/// </summary>
static class FmaPeak
{
    const int Iterations = 2_000_000;
    const int Chains = 12;

    /// <summary>Median of five passes, in floating-point operations per second, after one unmeasured pass.</summary>
    public static double Measure()
    {
        int threads = Workers.ThreadCount;
        var rates = new double[threads];
        var job = new ChainsJob(rates);
        Workers.For(threads, ref job);
        var passes = new List<double>();
        for (int pass = 0; pass < 5; pass++)
        {
            Array.Clear(rates);
            Workers.For(threads, ref job);
            passes.Add(rates.Sum()); // each thread's own rate: a thread that ran two chunks one after the other counts twice
        }
        passes.Sort();
        return passes[passes.Count / 2];
    }

    readonly struct ChainsJob(double[] rates) : IRowJob
    {
        public long CostPerRow => 1 << 20; // always worth a thread

        public void Run(int start, int end)
        {
            for (int row = start; row < end; row++)
            {
                long began = Stopwatch.GetTimestamp();
                double flops = Vector512.IsHardwareAccelerated ? Run512() : Run256();
                rates[row] = flops / Stopwatch.GetElapsedTime(began).TotalSeconds;
            }
        }
    }

    // Optimized from the first call and never inlined: other copies kept the chains in memory, not in registers
    // (a third of the rate).
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    static double Run512()
    {
        Vector512<float> m = Vector512.Create(0.9999999f), c = Vector512.Create(1e-7f);
        Vector512<float> a0 = m, a1 = m, a2 = m, a3 = m, a4 = m, a5 = m, a6 = m, a7 = m, a8 = m, a9 = m, a10 = m, a11 = m;
        for (int i = 0; i < Iterations; i++)
        {
            a0 = Vector512.FusedMultiplyAdd(a0, m, c); a1 = Vector512.FusedMultiplyAdd(a1, m, c);
            a2 = Vector512.FusedMultiplyAdd(a2, m, c); a3 = Vector512.FusedMultiplyAdd(a3, m, c);
            a4 = Vector512.FusedMultiplyAdd(a4, m, c); a5 = Vector512.FusedMultiplyAdd(a5, m, c);
            a6 = Vector512.FusedMultiplyAdd(a6, m, c); a7 = Vector512.FusedMultiplyAdd(a7, m, c);
            a8 = Vector512.FusedMultiplyAdd(a8, m, c); a9 = Vector512.FusedMultiplyAdd(a9, m, c);
            a10 = Vector512.FusedMultiplyAdd(a10, m, c); a11 = Vector512.FusedMultiplyAdd(a11, m, c);
        }
        Keep(Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11));
        return 2.0 * Chains * Vector512<float>.Count * Iterations;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    static double Run256()
    {
        Vector256<float> m = Vector256.Create(0.9999999f), c = Vector256.Create(1e-7f);
        Vector256<float> a0 = m, a1 = m, a2 = m, a3 = m, a4 = m, a5 = m, a6 = m, a7 = m, a8 = m, a9 = m, a10 = m, a11 = m;
        for (int i = 0; i < Iterations; i++)
        {
            a0 = Vector256.FusedMultiplyAdd(a0, m, c); a1 = Vector256.FusedMultiplyAdd(a1, m, c);
            a2 = Vector256.FusedMultiplyAdd(a2, m, c); a3 = Vector256.FusedMultiplyAdd(a3, m, c);
            a4 = Vector256.FusedMultiplyAdd(a4, m, c); a5 = Vector256.FusedMultiplyAdd(a5, m, c);
            a6 = Vector256.FusedMultiplyAdd(a6, m, c); a7 = Vector256.FusedMultiplyAdd(a7, m, c);
            a8 = Vector256.FusedMultiplyAdd(a8, m, c); a9 = Vector256.FusedMultiplyAdd(a9, m, c);
            a10 = Vector256.FusedMultiplyAdd(a10, m, c); a11 = Vector256.FusedMultiplyAdd(a11, m, c);
        }
        Keep(Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11));
        return 2.0 * Chains * Vector256<float>.Count * Iterations;
    }

    static void Keep(float value) => Volatile.Write(ref _sink, value);

    static float _sink;
}

using System.Diagnostics;
using System.Runtime.CompilerServices;
using Llama2.Engine.Kernels;

namespace Llama2.Bench;

/// <summary>
/// How fast the kernel threads can multiply-add right now: each runs twelve independent chains of fused
/// multiply-adds at the kernels' vector width (<see cref="Simd.Width"/>), nothing else. Prefill is bound by arithmetic, so this is its ceiling,
/// as the checkpoint read is decode's; on a virtual machine it moves too (a busy sibling hyperthread halves it), and
/// quoting it beside prefill figures says how close to the machine they are.
/// </summary>
static class FmaPeak
{
    const int Iterations = 2_000_000;
    const int ChainCount = 12;

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
                var chains = new ChainsKernel();
                Simd.Dispatch(Simd.Width, ref chains);
                double flops = chains.Flops;
                rates[row] = flops / Stopwatch.GetElapsedTime(began).TotalSeconds;
            }
        }
    }

    /// <summary>The chains at one vector width; <see cref="Flops"/> is what they did.</summary>
    struct ChainsKernel : IWidthKernel
    {
        public double Flops;
        public void Run<TVec, TOps>() where TVec : struct where TOps : struct, IVectorOps<TVec> => Flops = Chains<TVec, TOps>();
    }

    // Optimized from the first call and never inlined: other copies kept the chains in memory, not in registers
    // (a third of the rate).
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    static double Chains<TVec, TOps>() where TVec : struct where TOps : struct, IVectorOps<TVec>
    {
        TVec m = TOps.Broadcast(0.9999999f), c = TOps.Broadcast(1e-7f);
        TVec a0 = m, a1 = m, a2 = m, a3 = m, a4 = m, a5 = m, a6 = m, a7 = m, a8 = m, a9 = m, a10 = m, a11 = m;
        for (int i = 0; i < Iterations; i++)
        {
            a0 = TOps.Fma(a0, m, c); a1 = TOps.Fma(a1, m, c); a2 = TOps.Fma(a2, m, c); a3 = TOps.Fma(a3, m, c);
            a4 = TOps.Fma(a4, m, c); a5 = TOps.Fma(a5, m, c); a6 = TOps.Fma(a6, m, c); a7 = TOps.Fma(a7, m, c);
            a8 = TOps.Fma(a8, m, c); a9 = TOps.Fma(a9, m, c); a10 = TOps.Fma(a10, m, c); a11 = TOps.Fma(a11, m, c);
        }
        float sum = TOps.Sum(a0) + TOps.Sum(a1) + TOps.Sum(a2) + TOps.Sum(a3) + TOps.Sum(a4) + TOps.Sum(a5) +
            TOps.Sum(a6) + TOps.Sum(a7) + TOps.Sum(a8) + TOps.Sum(a9) + TOps.Sum(a10) + TOps.Sum(a11);
        Volatile.Write(ref _sink, sum); // keeps the chains
        return 2.0 * ChainCount * TOps.Width * Iterations;
    }

    static float _sink;
}

using System.Diagnostics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Llama2.Engine.Kernels;
using Llama2.Engine.Model;

namespace Llama2.Bench;

/// <summary>
/// How fast the kernel threads can read the mapped checkpoint right now: every byte once, summed as floats. Decoding
/// also reads every weight once per token, so this is its ceiling (file bytes × tok/s cannot exceed it by much), and
/// it moves with whatever else shares the machine's memory: quoting it beside decode figures says how close to the
/// machine they are.
/// </summary>
static class ReadBandwidth
{
    const int Chunks = 64;

    /// <summary>Median of <paramref name="sweeps"/> passes over the file, in bytes per second.</summary>
    public static double Measure(Checkpoint checkpoint, int sweeps = 5)
    {
        var job = new SumJob(checkpoint);
        var rates = new double[sweeps];
        for (int i = 0; i < sweeps; i++)
        {
            long start = Stopwatch.GetTimestamp();
            Workers.For(Chunks, ref job);
            rates[i] = checkpoint.FileBytes / Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        Array.Sort(rates);
        return rates[sweeps / 2];
    }

    readonly struct SumJob(Checkpoint checkpoint) : IRowJob
    {
        public long CostPerRow => 1 << 20; // a chunk is megabytes: always worth a thread

        public void Run(int start, int end)
        {
            long floats = checkpoint.FileBytes / sizeof(float);
            float sum = 0;
            for (int chunk = start; chunk < end; chunk++)
            {
                long from = floats * chunk / Chunks, to = floats * (chunk + 1) / Chunks;
                for (long at = from; at < to; at += int.MaxValue / sizeof(float))
                {
                    int count = (int)Math.Min(to - at, int.MaxValue / sizeof(float));
                    sum += TensorPrimitives.Sum(MemoryMarshal.Cast<byte, float>(checkpoint.Bytes(at * sizeof(float), count * sizeof(float))));
                }
            }
            Sink = sum; // keeps the reads
        }
    }

    [ThreadStatic] static float Sink;
}

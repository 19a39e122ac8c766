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

    /// <summary>
    /// Median of passes over the file, in bytes per second: at least five, and for a small file as many as fit in a
    /// fifth of a second, after one unmeasured pass (threads awake, code compiled).
    /// </summary>
    public static double Measure(Checkpoint checkpoint)
    {
        var job = new SumJob(checkpoint);
        Workers.For(Chunks, ref job);
        var rates = new List<double>();
        long began = Stopwatch.GetTimestamp();
        while (rates.Count < 5 || (Stopwatch.GetElapsedTime(began).TotalSeconds < 0.2 && rates.Count < 1000))
        {
            long start = Stopwatch.GetTimestamp();
            Workers.For(Chunks, ref job);
            rates.Add(checkpoint.FileBytes / Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
        rates.Sort();
        return rates[rates.Count / 2];
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
            Volatile.Write(ref _sink, sum); // keeps the reads (which thread's sum lands last does not matter)
        }
    }

    // One shared field is enough for a sink (thread-static storage is allocated on a thread's first touch).
    static float _sink;
}

namespace Llama2.Engine.Kernels;

/// <summary>A piece of work over rows [start, end), run on one thread.</summary>
public interface IRowJob
{
    void Run(int start, int end);
    /// <summary>Rough work per row (multiply-adds), to decide whether splitting across threads pays.</summary>
    long CostPerRow { get; }
}

/// <summary>Splits row loops across cores.</summary>
public static class Workers
{
    static int _threadCount = Environment.ProcessorCount;

    /// <summary>Threads used by the kernels; defaults to the machine's core count.</summary>
    public static int ThreadCount
    {
        get => _threadCount;
        set => _threadCount = Math.Clamp(value, 1, 256);
    }

    // Below this much work per chunk, waking another thread costs more than it saves.
    const long MinWorkPerChunk = 32 * 1024;

    public static void For<TJob>(int rows, ref TJob job) where TJob : struct, IRowJob
    {
        int chunks = (int)Math.Clamp(rows * job.CostPerRow / MinWorkPerChunk, 1, ThreadCount);
        if (chunks <= 1)
        {
            job.Run(0, rows);
            return;
        }
        var copy = job;
        Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = chunks }, c =>
        {
            int start = (int)((long)rows * c / chunks), end = (int)((long)rows * (c + 1) / chunks);
            copy.Run(start, end);
        });
    }
}

using System.Diagnostics;

namespace Llama2.Engine.Kernels;

/// <summary>A piece of work over rows [start, end), run on one thread.</summary>
public interface IRowJob
{
    void Run(int start, int end);
    /// <summary>Rough work per row (multiply-adds), to decide whether splitting across threads pays.</summary>
    long CostPerRow { get; }
}

/// <summary>
/// Splits row loops across cores with a persistent pool: <see cref="ThreadCount"/> − 1 background threads plus the
/// caller. Idle workers spin for a short while (the next matmul of a token comes microseconds later), then sleep.
/// A dispatch allocates nothing: the job is copied into a static slot of its own type and run through a function
/// pointer. One dispatch at a time; a caller that finds the pool busy (another sequence on another thread) runs its
/// job inline, which gives the same results, only slower.
/// </summary>
public static unsafe class Workers
{
    static int _threadCount = Environment.ProcessorCount;

    /// <summary>The most threads <see cref="ThreadCount"/> takes (more are clamped to it).</summary>
    public const int MaxThreads = 256;

    /// <summary>Threads used by the kernels; defaults to the machine's core count.</summary>
    public static int ThreadCount
    {
        get => _threadCount;
        set => _threadCount = Math.Clamp(value, 1, MaxThreads);
    }

    // Below this much work per chunk, waking another thread costs more than it saves.
    const long MinWorkPerChunk = 16 * 1024;
    // Chunks per thread: a few, so a thread slowed by something else on the machine does not hold up the others.
    const int ChunksPerThread = 4;
    // How long an idle worker spins before it sleeps.
    static readonly long SpinTicks = Stopwatch.Frequency / 5000; // 200 µs

    static readonly Lock Gate = new();
    static Worker[] _workers = [];

    // The current dispatch, published by bumping _generation.
    static delegate*<int, int, int, void> _run; // (chunk, chunks, rows)
    static int _rows, _chunks, _activeWorkers;
    static int _nextChunk;
    static int _pending;
    static int _generation;

    /// <summary>
    /// Runs <paramref name="job"/> over rows [0, rows), split across the threads when it pays: into a few chunks per
    /// thread, taken in turn, or with <paramref name="oneSharePerThread"/> into one contiguous share per thread, for
    /// a job that streams its rows from memory (a thread then reads one sequential stream, which the hardware
    /// prefetcher follows, rather than a few pieces it must pick up anew).
    /// </summary>
    public static void For<TJob>(int rows, ref TJob job, bool oneSharePerThread = false) where TJob : struct, IRowJob
    {
        int threads = _threadCount;
        long chunksByWork = Math.Max(1, rows * job.CostPerRow / MinWorkPerChunk);
        if (threads <= 1 || chunksByWork <= 1 || rows <= 1 || !Gate.TryEnter())
        {
            job.Run(0, rows);
            return;
        }
        try
        {
            int participants = (int)Math.Min(threads, chunksByWork);
            int chunks = (int)Math.Min(Math.Min(chunksByWork, (long)participants * (oneSharePerThread ? 1 : ChunksPerThread)), rows);
            EnsureWorkers(participants - 1);
            Slot<TJob>.Job = job;
            _run = &Slot<TJob>.RunChunk;
            _rows = rows;
            _chunks = chunks;
            _activeWorkers = participants - 1;
            _nextChunk = 0;
            _pending = participants;
            Interlocked.Increment(ref _generation); // publishes everything above
            for (int i = 0; i < participants - 1; i++) _workers[i].WakeIfSleeping();

            Participate();
            var spin = new SpinWait();
            while (Volatile.Read(ref _pending) != 0) spin.SpinOnce(sleep1Threshold: -1);
            Slot<TJob>.Job = default;
        }
        finally
        {
            Gate.Exit();
        }
    }

    static void Participate()
    {
        var run = _run;
        int chunks = _chunks, rows = _rows;
        for (int c; (c = Interlocked.Increment(ref _nextChunk) - 1) < chunks;)
            run(c, chunks, rows);
        Interlocked.Decrement(ref _pending);
    }

    static class Slot<TJob> where TJob : struct, IRowJob
    {
        public static TJob Job;

        public static void RunChunk(int chunk, int chunks, int rows)
        {
            int start = (int)((long)rows * chunk / chunks), end = (int)((long)rows * (chunk + 1) / chunks);
            Job.Run(start, end);
        }
    }

    static void EnsureWorkers(int count)
    {
        if (_workers.Length >= count) return;
        var workers = new Worker[count];
        _workers.CopyTo(workers, 0);
        // A new worker starts waiting from the current generation: the dispatch about to be published is its first.
        int generation = Volatile.Read(ref _generation);
        for (int i = _workers.Length; i < count; i++) workers[i] = new Worker(i, generation);
        _workers = workers;
    }

    sealed class Worker
    {
        readonly int _index;
        readonly SemaphoreSlim _wake = new(0);
        int _sleeping;
        int _seen;

        public Worker(int index, int generation)
        {
            _index = index;
            _seen = generation;
            new Thread(Loop) { IsBackground = true, Name = $"llama2 kernel worker {index + 1}" }.Start();
        }

        public void WakeIfSleeping()
        {
            if (Volatile.Read(ref _sleeping) == 1 && Interlocked.Exchange(ref _sleeping, 0) == 1) _wake.Release();
        }

        void Loop()
        {
            while (true)
            {
                _seen = WaitForDispatch(_seen);
                if (_index < _activeWorkers) Participate();
            }
        }

        int WaitForDispatch(int seen)
        {
            long spinUntil = Stopwatch.GetTimestamp() + SpinTicks;
            while (true)
            {
                for (int i = 0; i < 64; i++)
                {
                    int g = Volatile.Read(ref _generation);
                    if (g != seen) return g;
                    Thread.SpinWait(8);
                }
                if (Stopwatch.GetTimestamp() < spinUntil) continue;

                Interlocked.Exchange(ref _sleeping, 1);
                int now = Volatile.Read(ref _generation);
                if (now != seen)
                {
                    // A dispatch came in meanwhile. If the dispatcher already took our flag, it released the semaphore:
                    // consume that release so the count stays at zero.
                    if (Interlocked.Exchange(ref _sleeping, 0) == 0) _wake.Wait();
                    return now;
                }
                _wake.Wait();
                spinUntil = Stopwatch.GetTimestamp() + SpinTicks;
            }
        }
    }
}

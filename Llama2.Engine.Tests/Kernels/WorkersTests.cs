using System.Collections.Concurrent;
using Llama2.Engine.Kernels;

namespace Llama2.Engine.Tests.Kernels;

/// <summary>
/// The worker pool splits a row loop across the threads: every row runs exactly once, whichever split it chose.
/// (Another test's matmul may hold the pool meanwhile; the job then runs inline, which must cover the rows too.)
/// </summary>
public sealed class WorkersTests
{
    /// <summary>Records the ranges it was run on.</summary>
    readonly struct RecordingJob(ConcurrentQueue<(int Start, int End)> ranges, long costPerRow) : IRowJob
    {
        public long CostPerRow => costPerRow;
        public void Run(int start, int end) => ranges.Enqueue((start, end));
    }

    static (int Start, int End)[] Split(int rows, long costPerRow, bool oneSharePerThread)
    {
        var ranges = new ConcurrentQueue<(int Start, int End)>();
        var job = new RecordingJob(ranges, costPerRow);
        Workers.For(rows, ref job, oneSharePerThread);
        return [.. ranges.OrderBy(r => r.Start)];
    }

    static void AssertCoversEveryRowOnce((int Start, int End)[] ranges, int rows)
    {
        int next = 0;
        foreach (var (start, end) in ranges)
        {
            Assert.Equal(next, start);
            Assert.True(end > start, $"empty range [{start}, {end})");
            next = end;
        }
        Assert.Equal(rows, next);
    }

    [Theory]
    [InlineData(1, 1_000_000, false)]
    [InlineData(7, 1_000_000, false)]
    [InlineData(1000, 1_000_000, false)]
    [InlineData(1000, 1_000_000, true)]
    [InlineData(3, 1_000_000, true)]
    [InlineData(1000, 1, false)] // too little work to wake a thread: one inline call
    public void Every_row_runs_exactly_once(int rows, long costPerRow, bool oneSharePerThread) =>
        AssertCoversEveryRowOnce(Split(rows, costPerRow, oneSharePerThread), rows);

    [Fact]
    public void One_share_per_thread_gives_each_thread_one_contiguous_range()
    {
        var ranges = Split(4096, 1_000_000, oneSharePerThread: true);
        AssertCoversEveryRowOnce(ranges, 4096);
        Assert.InRange(ranges.Length, 1, Workers.ThreadCount);
    }

    [Fact]
    public void Too_little_work_runs_in_one_call()
    {
        var ranges = Split(1000, 1, oneSharePerThread: false);
        Assert.Equal([(0, 1000)], ranges);
    }
}

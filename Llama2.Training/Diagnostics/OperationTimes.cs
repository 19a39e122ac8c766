using System.Diagnostics;

namespace Llama2.Training.Diagnostics;

/// <summary>The trainer's operations, as <see cref="OperationTimes"/> counts them.</summary>
public enum Operation
{
    Embedding, RmsNormForward, RmsNormBackward, LinearForward, LinearBackwardInput, LinearBackwardWeight,
    RopeForward, RopeBackward, AttentionForward, AttentionBackward, SwiGluForward, SwiGluBackward, CrossEntropy,
    GradientClipping, AdamW, TransposeWeights,
}

/// <summary>
/// Wall time spent in each of the trainer's operations (each timed on the thread that dispatches it, so parallel work
/// counts once), for the benchmark's breakdown of a step. Off by default: then a measurement is one branch.
/// </summary>
public static class OperationTimes
{
    static readonly long[] Ticks = new long[Enum.GetValues<Operation>().Length];
    static readonly long[] Calls = new long[Ticks.Length];

    public static bool Enabled { get; set; }

    /// <summary>Times the operation until the returned scope is disposed.</summary>
    public static Scope Measure(Operation operation) => Enabled ? new Scope(operation, Stopwatch.GetTimestamp()) : default;

    public static void Reset()
    {
        Array.Clear(Ticks);
        Array.Clear(Calls);
    }

    /// <summary>Each operation's total time and number of calls since <see cref="Reset"/>, longest first.</summary>
    public static IReadOnlyList<(Operation Operation, TimeSpan Time, long Calls)> Totals() =>
        Enum.GetValues<Operation>()
            .Select(o => (o, Stopwatch.GetElapsedTime(0, Volatile.Read(ref Ticks[(int)o])), Volatile.Read(ref Calls[(int)o])))
            .Where(t => t.Item3 > 0)
            .OrderByDescending(t => t.Item2)
            .ToList();

    public readonly struct Scope(Operation operation, long start) : IDisposable
    {
        public void Dispose()
        {
            if (start == 0) return;
            Interlocked.Add(ref Ticks[(int)operation], Stopwatch.GetTimestamp() - start);
            Interlocked.Increment(ref Calls[(int)operation]);
        }
    }
}

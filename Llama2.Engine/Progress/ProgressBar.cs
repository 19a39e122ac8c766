namespace Llama2.Engine.Progress;

/// <summary>
/// The progress line of a long job (a download, a checkpoint being written, quantizing, training), as
/// <c>[###############...............] text</c>. On a terminal it is one line redrawn in place with <c>\r</c>, at most
/// every <see cref="RedrawInterval"/>. Redirected to a file or a pipe it is one line per step: the first report, then
/// each time the job passes another tenth, or after <see cref="LineInterval"/> without a line, and at
/// <see cref="Complete"/> the last state unless the 100 % line is there already: a log holds a few readable lines,
/// never a hundred <c>\r</c>-separated ones.
/// Reports may come from any thread, one at a time or not.
/// </summary>
public sealed class ProgressBar(TextWriter writer, bool isTerminal, TimeProvider? time = null)
{
    public const int Width = 30;

    readonly TimeProvider _time = time ?? TimeProvider.System;
    readonly Lock _lock = new();
    (double? Fraction, string Text)? _pending; // the last report, when it has not been written yet
    long _lastWrite;
    bool _written;
    bool _writtenComplete;
    int _lastTenth = -1;
    int _drawnLength;

    /// <summary>A progress line on stderr, redrawn in place only when stderr is a terminal.</summary>
    public static ProgressBar OnStandardError() => new(Console.Error, isTerminal: !Console.IsErrorRedirected);

    /// <summary>Runs <paramref name="work"/> with a progress line on stderr, completed however the work ends.</summary>
    public static T OnStandardError<T>(Func<ProgressBar, T> work)
    {
        var bar = OnStandardError();
        try
        {
            return work(bar);
        }
        finally
        {
            bar.Complete();
        }
    }

    /// <summary>Least time between two redraws on a terminal (the first and the last state are always drawn).</summary>
    public TimeSpan RedrawInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Longest time without a line when redirected while the job stays within the same tenth.</summary>
    public TimeSpan LineInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Reports the state: <paramref name="fraction"/> done (null when the total is unknown) and what to say.</summary>
    public void Report(double? fraction, string text)
    {
        lock (_lock)
        {
            _pending = (fraction, text);
            var elapsed = _time.GetElapsedTime(_lastWrite);
            bool due = !_written || (isTerminal
                ? elapsed >= RedrawInterval || fraction >= 1
                : Tenth(fraction) > _lastTenth || elapsed >= LineInterval);
            if (due) WritePending();
        }
    }

    /// <summary>Ends the line: writes the last state if it is not shown yet, and the line break on a terminal.</summary>
    public void Complete()
    {
        lock (_lock)
        {
            if (_pending is not null && (isTerminal || !_writtenComplete)) WritePending();
            if (isTerminal && _written) writer.WriteLine();
            writer.Flush();
            _pending = null;
            _written = _writtenComplete = false;
            _lastTenth = -1;
            _drawnLength = 0;
        }
    }

    /// <summary>
    /// An <see cref="IProgress{T}"/> of fractions done, shown as <c>label:  42%</c>. It reports on the caller's
    /// thread (<see cref="Progress{T}"/> would post each report to the thread pool, out of order).
    /// </summary>
    public IProgress<double> ForFraction(string label) =>
        For<double>(fraction => (fraction, $"{label}: {(int)(Math.Clamp(fraction, 0, 1) * 100),3}%"));

    /// <summary>An <see cref="IProgress{T}"/> of any report type, which <paramref name="describe"/> turns into a state.</summary>
    public IProgress<T> For<T>(Func<T, (double? Fraction, string Text)> describe) => new Reporter<T>(this, describe);

    void WritePending()
    {
        var (fraction, text) = _pending!.Value;
        _pending = null;
        string line = Render(fraction, text);
        if (isTerminal)
        {
            // Spaces clear what is left of a longer line drawn before.
            writer.Write('\r' + line.PadRight(_drawnLength));
            _drawnLength = line.Length;
        }
        else writer.WriteLine(line);
        writer.Flush();
        _written = true;
        _writtenComplete |= fraction >= 1;
        _lastWrite = _time.GetTimestamp();
        _lastTenth = Math.Max(_lastTenth, Tenth(fraction));
    }

    /// <summary>0 to 10; -1 when the fraction is unknown.</summary>
    static int Tenth(double? fraction) => fraction is { } f ? (int)Math.Floor(Math.Clamp(f, 0, 1) * 10) : -1;

    /// <summary><c>[#####.........] text</c>; the text alone when the fraction is unknown.</summary>
    public static string Render(double? fraction, string text)
    {
        if (fraction is not { } f) return text;
        int filled = (int)Math.Round(Math.Clamp(f, 0, 1) * Width);
        return $"[{new string('#', filled)}{new string('.', Width - filled)}] {text}";
    }

    sealed class Reporter<T>(ProgressBar bar, Func<T, (double? Fraction, string Text)> describe) : IProgress<T>
    {
        public void Report(T value)
        {
            var (fraction, text) = describe(value);
            bar.Report(fraction, text);
        }
    }
}

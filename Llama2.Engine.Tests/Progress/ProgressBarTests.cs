using Llama2.Engine.Progress;

namespace Llama2.Engine.Tests.Progress;

public sealed class ProgressBarTests
{
    /// <summary>A clock that moves only when told to.</summary>
    sealed class ManualTime : TimeProvider
    {
        long _ticks;
        public override long TimestampFrequency => TimeSpan.TicksPerSecond;
        public override long GetTimestamp() => _ticks;
        public void Advance(TimeSpan by) => _ticks += by.Ticks;
    }

    readonly StringWriter _output = new();
    readonly ManualTime _time = new();

    ProgressBar Redirected() => new(_output, isTerminal: false, _time) { LineInterval = TimeSpan.FromSeconds(5) };
    ProgressBar Terminal() => new(_output, isTerminal: true, _time) { RedrawInterval = TimeSpan.FromMilliseconds(100) };
    string[] Lines() => _output.ToString().Split(_output.NewLine, StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public void Redirected_output_gets_one_line_at_the_start_and_at_each_tenth_without_carriage_returns()
    {
        var bar = Redirected();
        var progress = bar.ForFraction("writing 15M");
        for (int i = 1; i <= 100; i++) progress.Report(i / 100.0);
        bar.Complete();

        Assert.DoesNotContain('\r', _output.ToString());
        Assert.Equal(
            new[] { 1, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100 }.Select(p => $"writing 15M: {p,3}%"),
            Lines().Select(line => line[(ProgressBar.Width + 3)..]));
        Assert.Equal($"[{new string('.', 30)}] writing 15M:   1%", Lines()[0]);
        Assert.Equal($"[{new string('#', 30)}] writing 15M: 100%", Lines()[^1]);
        Assert.Equal($"[{new string('#', 15)}{new string('.', 15)}] writing 15M:  50%", Lines()[5]);
    }

    [Fact]
    public void Redirected_output_of_a_slow_job_gets_a_line_after_the_interval_and_the_last_state_at_completion()
    {
        var bar = Redirected();
        bar.Report(0.01, "step 1");
        _time.Advance(TimeSpan.FromSeconds(6));
        bar.Report(0.02, "step 2"); // same tenth, but 6 s since the last line
        _time.Advance(TimeSpan.FromSeconds(1));
        bar.Report(0.03, "step 3"); // same tenth, 1 s: not yet
        bar.Complete();             // the last state is not shown yet: it is now

        Assert.Equal(["step 1", "step 2", "step 3"], Lines().Select(line => line[(ProgressBar.Width + 3)..]));
    }

    [Fact]
    public void Redirected_output_of_an_unknown_total_is_the_text_alone_at_the_interval()
    {
        var bar = Redirected();
        bar.Report(null, "file: 1.0 MB");
        bar.Report(null, "file: 2.0 MB");
        _time.Advance(TimeSpan.FromSeconds(5));
        bar.Report(null, "file: 3.0 MB");
        bar.Report(null, "file: 4.0 MB");
        bar.Complete();

        Assert.Equal(["file: 1.0 MB", "file: 3.0 MB", "file: 4.0 MB"], Lines());
    }

    [Fact]
    public void Redirected_output_shows_completion_once()
    {
        var bar = Redirected();
        bar.Report(1, "done at 10 MB/s");
        bar.Report(1, "done at 11 MB/s");
        bar.Complete();

        Assert.Equal([$"[{new string('#', 30)}] done at 10 MB/s"], Lines());
    }

    [Fact]
    public void Terminal_output_redraws_one_line_in_place_at_most_every_interval_and_ends_it_at_completion()
    {
        var bar = Terminal();
        bar.Report(0.1, "a");
        _time.Advance(TimeSpan.FromMilliseconds(50));
        bar.Report(0.2, "b"); // within the interval: not drawn
        _time.Advance(TimeSpan.FromMilliseconds(60));
        bar.Report(0.3, "c");
        bar.Report(0.4, "d"); // not drawn now, but the last state is drawn at completion
        bar.Complete();

        string Line(double f, string text) => "\r" + ProgressBar.Render(f, text);
        Assert.Equal(Line(0.1, "a") + Line(0.3, "c") + Line(0.4, "d") + _output.NewLine, _output.ToString());
    }

    [Fact]
    public void Terminal_output_draws_completion_at_once_and_clears_what_a_longer_line_left()
    {
        var bar = Terminal();
        bar.Report(null, "file: 10.0 MB");
        bar.Report(1, "file: done"); // within the interval, but the end is always drawn
        bar.Complete();

        var done = ProgressBar.Render(1, "file: done");
        Assert.True(done.Length > "file: 10.0 MB".Length);
        Assert.Equal("\rfile: 10.0 MB\r" + done + _output.NewLine, _output.ToString());

        _output.GetStringBuilder().Clear();
        bar.Report(null, "a longer line than the next");
        _time.Advance(TimeSpan.FromSeconds(1));
        bar.Report(null, "short");
        bar.Complete();
        Assert.Equal("\ra longer line than the next\r" + "short".PadRight(27) + _output.NewLine, _output.ToString());
    }

    [Fact]
    public void Render_fills_the_bar_in_proportion_and_clamps()
    {
        Assert.Equal($"[{new string('.', 30)}] x", ProgressBar.Render(0, "x"));
        Assert.Equal($"[{new string('#', 10)}{new string('.', 20)}] x", ProgressBar.Render(1.0 / 3, "x"));
        Assert.Equal($"[{new string('#', 30)}] x", ProgressBar.Render(1.5, "x"));
        Assert.Equal($"[{new string('.', 30)}] x", ProgressBar.Render(-0.5, "x"));
        Assert.Equal("x", ProgressBar.Render(null, "x"));
    }
}

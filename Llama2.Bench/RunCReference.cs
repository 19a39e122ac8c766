using System.Diagnostics;
using System.Globalization;

namespace Llama2.Bench;

/// <summary>
/// llama2.c's own <c>run</c>, decoding the same checkpoint right after each of our decode runs, so the two are
/// compared on the same machine in the same minute (this machine's memory speed moves from minute to minute). The
/// user builds it (git clone https://github.com/karpathy/llama2.c, then <c>make runomp</c>); it runs greedy
/// (<c>-t 0</c>) for the same number of tokens with as many OpenMP threads as our kernels use, and reports the rate
/// it prints (<c>achieved tok/s</c>, timed from its second token).
/// </summary>
sealed class RunCReference(string run, string? tokenizer)
{
    static readonly TimeSpan Timeout = TimeSpan.FromMinutes(5);

    /// <summary>The run binary exists and is a file; otherwise a message for the user.</summary>
    public string? Problem => File.Exists(run) ? null : $"--runc: no file at {run} (llama2.c's run binary, built with `make runomp`)";

    /// <summary>run.c's decode rate in tokens per second, or null (with a message on stderr) if it did not report one.</summary>
    public double? Decode(string checkpoint, int tokens, int threads)
    {
        var start = new ProcessStartInfo(Path.GetFullPath(run))
        {
            // run looks for tokenizer.bin in its working directory, as in a llama2.c checkout.
            WorkingDirectory = Path.GetDirectoryName(Path.GetFullPath(run))!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { Path.GetFullPath(checkpoint), "-n", tokens.ToString(CultureInfo.InvariantCulture), "-t", "0" })
            start.ArgumentList.Add(arg);
        if (tokenizer is not null)
        {
            start.ArgumentList.Add("-z");
            start.ArgumentList.Add(Path.GetFullPath(tokenizer));
        }
        start.Environment["OMP_NUM_THREADS"] = threads.ToString(CultureInfo.InvariantCulture);

        using var process = Process.Start(start)!;
        var drained = process.StandardOutput.BaseStream.CopyToAsync(Stream.Null); // the generated text
        var errors = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(Timeout))
        {
            process.Kill(entireProcessTree: true);
            Console.Error.WriteLine($"  run.c did not finish within {Timeout.TotalMinutes} minutes; stopped");
            return null;
        }
        drained.Wait();
        string stderr = errors.Result;
        const string Marker = "achieved tok/s:";
        int at = stderr.IndexOf(Marker, StringComparison.Ordinal);
        if (process.ExitCode == 0 && at >= 0 &&
            double.TryParse(stderr[(at + Marker.Length)..].Trim().Split('\n')[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double rate))
            return rate;
        Console.Error.WriteLine($"  run.c exited with {process.ExitCode} without a rate: {stderr.Trim()}");
        return null;
    }
}

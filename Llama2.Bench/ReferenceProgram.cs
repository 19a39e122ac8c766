using System.Diagnostics;
using System.Globalization;

namespace Llama2.Bench;

/// <summary>
/// One of llama2.c's own programs, decoding the same checkpoint right after each of our decode runs, so the two are
/// compared on the same machine in the same minute (this machine's memory speed moves from minute to minute): run.c
/// (<c>--runc</c>) on the fp32 checkpoints, runq.c (<c>--runq</c>) on the int8 ones. The user builds them
/// (git clone https://github.com/karpathy/llama2.c, then <c>make runomp</c>, which builds both); each runs greedy
/// (<c>-t 0</c>) for the same number of tokens with as many OpenMP threads as our kernels use, and reports the rate it
/// prints (<c>achieved tok/s</c>, timed from its second token).
/// </summary>
sealed class ReferenceProgram(string name, string option, string path, string? tokenizer)
{
    static readonly TimeSpan Timeout = TimeSpan.FromMinutes(5);

    /// <summary>run.c or runq.c, as the tables name it.</summary>
    public string Name => name;

    /// <summary>The binary exists and is a file; otherwise a message for the user.</summary>
    public string? Problem => File.Exists(path) ? null : $"{option}: no file at {path} (llama2.c's {Path.GetFileNameWithoutExtension(name)} binary, built with `make runomp`)";

    /// <summary>The program's decode rate in tokens per second, or null (with a message on stderr) if it did not report one.</summary>
    public double? Decode(string checkpoint, int tokens, int threads)
    {
        var start = new ProcessStartInfo(Path.GetFullPath(path))
        {
            // llama2.c's programs look for tokenizer.bin in their working directory, as in a llama2.c checkout.
            WorkingDirectory = Path.GetDirectoryName(Path.GetFullPath(path))!,
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
            Console.Error.WriteLine($"  {name} did not finish within {Timeout.TotalMinutes} minutes; stopped");
            return null;
        }
        drained.Wait();
        string stderr = errors.Result;
        const string Marker = "achieved tok/s:";
        int at = stderr.IndexOf(Marker, StringComparison.Ordinal);
        if (process.ExitCode == 0 && at >= 0 &&
            double.TryParse(stderr[(at + Marker.Length)..].Trim().Split('\n')[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double rate))
            return rate;
        Console.Error.WriteLine($"  {name} exited with {process.ExitCode} without a rate: {stderr.Trim()}");
        return null;
    }
}

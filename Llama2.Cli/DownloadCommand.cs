using System.CommandLine;
using Llama2.Engine.Download;
using Llama2.Engine.Progress;

namespace Llama2.Cli;

/// <summary><c>Llama2.Cli download &lt;stories15M|stories42M|stories110M|URL&gt; [--dir DIR] [--sha256 HEX]</c></summary>
public static class DownloadCommand
{
    public static Command Create()
    {
        string known = string.Join(", ", ModelSource.KnownModels.Keys);
        var model = new Argument<string>("model") { Description = $"{known}, or the http(s) URL of a checkpoint" };
        model.Validators.Add(result =>
        {
            string what = result.GetValueOrDefault<string>();
            if (!ModelSource.KnownModels.ContainsKey(what) && !IsHttpUrl(what, out _))
                result.AddError($"'{what}' is neither a known model ({known}) nor an http(s) URL");
        });
        var dir = new Option<string>("--dir")
        {
            Description = "folder to save into",
            HelpName = "folder",
            DefaultValueFactory = _ => "models",
        };
        var sha256 = new Option<string?>("--sha256")
        {
            Description = "SHA-256 the checkpoint must have; a file that differs is removed",
            HelpName = "hex",
        };
        sha256.Validators.Add(result =>
        {
            string? hex = result.GetValueOrDefault<string?>();
            if (hex is not null && (hex.Length != 64 || !hex.All(char.IsAsciiHexDigit)))
                result.AddError($"--sha256 takes 64 hexadecimal digits, not '{hex}'");
        });

        var command = new Command("download", """
            Downloads a checkpoint (and, for the named models, tokenizer.bin) into the folder, resuming an interrupted
            download and checking the SHA-256 when one is given. Nothing is left under the final name unless it is
            complete; Ctrl+C keeps the partial file, and the same command resumes it.
            """)
        {
            model, dir, sha256,
        };
        command.SetAction((parsed, cancellationToken) =>
            RunAsync(Sources(parsed.GetRequiredValue(model), parsed.GetRequiredValue(dir), parsed.GetValue(sha256)), cancellationToken));
        return command;
    }

    static bool IsHttpUrl(string what, out Uri url) =>
        Uri.TryCreate(what, UriKind.Absolute, out url!) && url.Scheme is "http" or "https";

    /// <summary>What to fetch and where to: a known model and the tokenizer, or the file at a URL.</summary>
    static List<(ModelSource Source, string Path)> Sources(string what, string dir, string? sha256)
    {
        if (ModelSource.KnownModels.TryGetValue(what, out var known))
            return [(known with { Sha256 = sha256 }, Path.Combine(dir, what + ".bin")), (ModelSource.Tokenizer, Path.Combine(dir, "tokenizer.bin"))];
        IsHttpUrl(what, out var url); // the argument's validator has refused anything else
        return [(new ModelSource(url, Sha256: sha256), Path.Combine(dir, Path.GetFileName(url.LocalPath) is { Length: > 0 } n ? n : "model.bin"))];
    }

    static async Task<int> RunAsync(List<(ModelSource Source, string Path)> downloads, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        var downloader = new FileDownloader(http) { ProgressInterval = TimeSpan.FromMilliseconds(200) };
        foreach (var (source, path) in downloads)
        {
            if (File.Exists(path))
            {
                Console.Error.WriteLine($"{path} is already there");
                continue;
            }
            var bar = ProgressBar.OnStandardError();
            try
            {
                await downloader.DownloadAsync(source, path, bar.For<DownloadProgress>(p => (p.Fraction, p.ToString())), cancellationToken);
                bar.Complete();
                Console.Error.WriteLine($"saved {path}");
            }
            catch (DownloadException e)
            {
                bar.Complete();
                Console.Error.WriteLine($"error: {e.Message}");
                return 1;
            }
            catch (OperationCanceledException)
            {
                bar.Complete();
                Console.Error.WriteLine($"cancelled; run the same command again to resume ({FileDownloader.PartialPath(path)} is kept)");
                return 130;
            }
        }
        return 0;
    }
}

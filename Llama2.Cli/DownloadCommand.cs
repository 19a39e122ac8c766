using Llama2.Engine.Download;

namespace Llama2.Cli;

/// <summary><c>Llama2.Cli download [stories15M|stories42M|stories110M|URL] [--dir DIR] [--sha256 HEX]</c></summary>
public static class DownloadCommand
{
    public const string Usage = """
        Usage:   Llama2.Cli download <stories15M|stories42M|stories110M|URL> [--dir <folder>] [--sha256 <hex>]
        Downloads a checkpoint (and, for the named models, tokenizer.bin) into the folder (default: models),
        resuming an interrupted download and checking the SHA-256 when one is given.
        """;

    public static async Task<int> RunAsync(IReadOnlyList<string> args, CancellationToken cancellationToken)
    {
        string? what = null, dir = "models", sha = null;
        for (int i = 0; i < args.Count; i++)
        {
            switch (args[i])
            {
                case "--dir" when i + 1 < args.Count: dir = args[++i]; break;
                case "--sha256" when i + 1 < args.Count: sha = args[++i]; break;
                case var a when !a.StartsWith('-') && what is null: what = a; break;
                default:
                    Console.Error.WriteLine($"error: unexpected argument '{args[i]}'");
                    Console.Error.WriteLine(Usage);
                    return 1;
            }
        }
        if (what is null)
        {
            Console.Error.WriteLine(Usage);
            return 1;
        }

        var downloads = new List<(ModelSource Source, string Path)>();
        if (ModelSource.KnownModels.TryGetValue(what, out var known))
        {
            downloads.Add((known with { Sha256 = sha }, Path.Combine(dir, what + ".bin")));
            downloads.Add((ModelSource.Tokenizer, Path.Combine(dir, "tokenizer.bin")));
        }
        else if (Uri.TryCreate(what, UriKind.Absolute, out var url) && url.Scheme is "http" or "https")
            downloads.Add((new ModelSource(url, Sha256: sha), Path.Combine(dir, Path.GetFileName(url.LocalPath) is { Length: > 0 } n ? n : "model.bin")));
        else
        {
            Console.Error.WriteLine($"error: '{what}' is neither a known model ({string.Join(", ", ModelSource.KnownModels.Keys)}) nor an http(s) URL");
            return 1;
        }

        using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        var downloader = new FileDownloader(http) { ProgressInterval = TimeSpan.FromMilliseconds(200) };
        foreach (var (source, path) in downloads)
        {
            if (File.Exists(path))
            {
                Console.Error.WriteLine($"{path} is already there");
                continue;
            }
            try
            {
                await downloader.DownloadAsync(source, path, new ConsoleProgressBar(), cancellationToken);
                Console.Error.WriteLine();
                Console.Error.WriteLine($"saved {path}");
            }
            catch (DownloadException e)
            {
                Console.Error.WriteLine();
                Console.Error.WriteLine($"error: {e.Message}");
                return 1;
            }
            catch (OperationCanceledException)
            {
                Console.Error.WriteLine();
                Console.Error.WriteLine($"cancelled; run the same command again to resume ({FileDownloader.PartialPath(path)} is kept)");
                return 130;
            }
        }
        return 0;
    }

    /// <summary>One line on stderr, redrawn in place: [#####.....] 50% 29.0 MB of 58.0 MB at 12.1 MB/s</summary>
    sealed class ConsoleProgressBar : IProgress<DownloadProgress>
    {
        public void Report(DownloadProgress p)
        {
            const int Width = 30;
            int filled = (int)Math.Round((p.Fraction ?? 0) * Width);
            Console.Error.Write($"\r[{new string('#', filled)}{new string('.', Width - filled)}] {p}   ");
        }
    }
}

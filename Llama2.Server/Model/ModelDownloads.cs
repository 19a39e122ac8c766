using Llama2.Engine.Download;

namespace Llama2.Server.Model;

/// <summary>
/// Fetches the configured model files that are missing, before the model loads: progress goes to the log (at most
/// once a second) and to <see cref="Status"/>, which /health shows.
/// </summary>
public sealed class ModelDownloads(IHttpClientFactory httpClients, ILogger<ModelDownloads> logger)
{
    public const string HttpClientName = "model-download";

    /// <summary>"downloading 42% of stories15M.bin (25.1 of 60.8 MB)" while a download runs, else null.</summary>
    public string? Status { get; private set; }

    /// <summary>Whether any configured file is missing and has a source to fetch it from.</summary>
    public static bool AnyNeeded(ModelOptions options) => Needed(options).Any();

    static IEnumerable<(string Path, ModelSource Source)> Needed(ModelOptions options)
    {
        if (!File.Exists(options.CheckpointPath) && !Directory.Exists(options.CheckpointPath) && options.Download.CheckpointSourceFor(options.CheckpointPath) is { } checkpoint)
            yield return (options.CheckpointPath, checkpoint);
        if (options.TokenizerPath.Length > 0 && !File.Exists(options.TokenizerPath) && options.Download.TokenizerSourceFor(options.TokenizerPath) is { } tokenizer)
            yield return (options.TokenizerPath, tokenizer);
    }

    /// <summary>Downloads every missing file; a failure throws <see cref="DownloadException"/> saying what to do.</summary>
    public async Task FetchMissingAsync(ModelOptions options, CancellationToken cancellationToken)
    {
        var downloader = new FileDownloader(httpClients.CreateClient(HttpClientName));
        foreach (var (path, source) in Needed(options).ToList())
        {
            var fullPath = Path.GetFullPath(path);
            logger.LogInformation("Downloading {Url} to {Path}", source.Url, fullPath);
            Status = $"downloading {Path.GetFileName(fullPath)}";
            var progress = new Progress(this, logger);
            await downloader.DownloadAsync(source, fullPath, progress, cancellationToken);
            logger.LogInformation("Downloaded {Path} ({Bytes} bytes)", fullPath, new FileInfo(fullPath).Length);
        }
        Status = null;
    }

    /// <summary>Reports synchronously (System.Progress would post to the thread pool and reorder reports).</summary>
    sealed class Progress(ModelDownloads owner, ILogger logger) : IProgress<DownloadProgress>
    {
        public void Report(DownloadProgress p)
        {
            const double MB = 1024 * 1024;
            owner.Status = p.Fraction is { } f
                ? $"downloading {f * 100:F0}% of {p.FileName} ({p.ReceivedBytes / MB:F1} of {p.TotalBytes!.Value / MB:F1} MB)"
                : $"downloading {p.FileName} ({p.ReceivedBytes / MB:F1} MB)";
            logger.LogInformation("Download {Progress}", p.ToString());
        }
    }
}

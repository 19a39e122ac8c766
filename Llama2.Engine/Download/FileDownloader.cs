using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;

namespace Llama2.Engine.Download;

/// <summary>
/// Downloads a file safely: into <c>NAME.partial</c> beside the destination, resuming with an HTTP Range request
/// after a cut connection (within a call, and across calls), checking size and SHA-256 when they are known, then
/// renaming into place. A failed, short or corrupt download never leaves a file under the final name.
/// </summary>
public sealed class FileDownloader(HttpClient http)
{
    public int MaxAttempts { get; init; } = 4;
    /// <summary>Least time between two progress reports (the last one always comes).</summary>
    public TimeSpan ProgressInterval { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>
    /// Sent with every request (e.g. a Hugging Face token). HttpClient drops it when a response redirects, so it does
    /// not follow a file to its CDN.
    /// </summary>
    public AuthenticationHeaderValue? Authorization { get; init; }

    public static string PartialPath(string destination) => destination + ".partial";

    public async Task DownloadAsync(ModelSource source, string destination, IProgress<DownloadProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        destination = Path.GetFullPath(destination);
        Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
        var partial = PartialPath(destination);
        var name = Path.GetFileName(destination);

        for (int attempt = 1; ; attempt++)
        {
            try
            {
                await FetchIntoAsync(source, partial, name, progress, cancellationToken);
                break;
            }
            catch (Exception e) when (e is HttpRequestException or IOException && attempt < MaxAttempts
                                      && !cancellationToken.IsCancellationRequested)
            {
                // Keep what arrived: the next attempt asks only for the rest.
                await Task.Delay(RetryDelay, cancellationToken);
            }
            catch (Exception e) when (e is HttpRequestException or IOException)
            {
                throw new DownloadException(
                    $"downloading {source.Url} failed after {attempt} attempts: {e.Message}. Check the network, or " +
                    $"download the file yourself and point the configuration at it (e.g. Model__CheckpointPath).", e);
            }
        }

        Verify(source, partial);
        File.Move(partial, destination, overwrite: true);
        Model.PageCache.Evict(destination); // mapped later in huge pages (see PageCache)
    }

    async Task FetchIntoAsync(ModelSource source, string partial, string name, IProgress<DownloadProgress>? progress,
        CancellationToken cancellationToken)
    {
        long have = File.Exists(partial) ? new FileInfo(partial).Length : 0;
        if (source.ExpectedBytes is { } expected && have >= expected) return; // complete already; Verify decides

        using var request = new HttpRequestMessage(HttpMethod.Get, source.Url);
        if (have > 0) request.Headers.Range = new RangeHeaderValue(have, null);
        request.Headers.Authorization = Authorization;
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);

        if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && have > 0)
            return; // the partial file already holds everything the server has; Verify decides
        if (!response.IsSuccessStatusCode)
            throw new DownloadException(
                $"downloading {source.Url} failed: the server answered {(int)response.StatusCode} {response.ReasonPhrase}. " +
                "Check the URL, or download the file yourself and point the configuration at it.", statusCode: response.StatusCode);

        bool resumed = response.StatusCode == HttpStatusCode.PartialContent;
        if (!resumed) have = 0; // the server ignored the Range: start over
        long? total = resumed
            ? response.Content.Headers.ContentRange?.Length
            : response.Content.Headers.ContentLength;
        total ??= source.ExpectedBytes;

        await using var file = new FileStream(partial, resumed ? FileMode.Append : FileMode.Create, FileAccess.Write,
            FileShare.None, 1 << 16, useAsync: true);
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
        var buffer = new byte[1 << 16];
        var clock = Stopwatch.StartNew();
        long receivedThisAttempt = 0;
        var lastReport = TimeSpan.Zero;
        int read;
        while ((read = await body.ReadAsync(buffer, cancellationToken)) > 0)
        {
            await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
            receivedThisAttempt += read;
            if (progress is not null && clock.Elapsed - lastReport >= ProgressInterval)
            {
                lastReport = clock.Elapsed;
                progress.Report(new(name, have + receivedThisAttempt, total, receivedThisAttempt / clock.Elapsed.TotalSeconds));
            }
        }
        progress?.Report(new(name, have + receivedThisAttempt, total,
            receivedThisAttempt / Math.Max(clock.Elapsed.TotalSeconds, 1e-3)));
        if (total is { } t && have + receivedThisAttempt < t)
            throw new IOException($"connection closed after {have + receivedThisAttempt} of {t} bytes");
    }

    static void Verify(ModelSource source, string partial)
    {
        long size = new FileInfo(partial).Length;
        if (source.ExpectedBytes is { } expected && size != expected)
        {
            File.Delete(partial);
            throw new DownloadException(
                $"downloaded {source.Url} is {size} bytes but {expected} were expected; the partial file was removed. Try again.");
        }
        if (source.Sha256 is { Length: > 0 } sha)
        {
            string actual;
            using (var stream = File.OpenRead(partial)) actual = Convert.ToHexStringLower(SHA256.HashData(stream));
            if (!actual.Equals(sha.Trim(), StringComparison.OrdinalIgnoreCase))
            {
                File.Delete(partial);
                throw new DownloadException(
                    $"downloaded {source.Url} has SHA-256 {actual} but {sha} was expected; the file was removed. " +
                    "The source changed or the download was corrupted: check the configured checksum and try again.");
            }
        }
    }
}

using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Llama2.TestSupport;

/// <summary>
/// Serves one file at /files/{any name} on a loopback port, with HTTP Range support; it can cut the connection part
/// way through a response, as a flaky network would, or send slowly.
/// </summary>
public sealed class LocalFileServer : IAsyncDisposable
{
    readonly WebApplication _app;

    LocalFileServer(WebApplication app, byte[] content)
    {
        _app = app;
        Content = content;
    }

    public byte[] Content { get; }
    /// <summary>The Range header of every request, "" when there was none.</summary>
    public ConcurrentQueue<string> RangeHeaders { get; } = new();
    /// <summary>Cut the connection of the next response after this many bytes (then serve normally).</summary>
    public long? CutNextResponseAfter { get; set; }
    public bool IgnoreRange { get; set; }
    /// <summary>Pause after each 64 KiB sent, to make a download slow enough to watch.</summary>
    public TimeSpan ChunkDelay { get; set; }
    public Uri FileUrl => UrlFor("file");
    public Uri UrlFor(string name) => new(_app.Urls.First() + "/files/" + name);
    public Uri MissingUrl => new(_app.Urls.First() + "/missing");

    public static async Task<LocalFileServer> StartAsync(byte[] content)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var server = new LocalFileServer(app, content);
        app.MapGet("/files/{name}", server.ServeAsync);
        await app.StartAsync();
        return server;
    }

    async Task ServeAsync(HttpContext context)
    {
        string range = context.Request.Headers.Range.ToString();
        RangeHeaders.Enqueue(range);
        long start = 0;
        if (!IgnoreRange && range.StartsWith("bytes=") && range.EndsWith('-') && long.TryParse(range[6..^1], out start))
        {
            if (start >= Content.Length)
            {
                context.Response.StatusCode = StatusCodes.Status416RangeNotSatisfiable;
                return;
            }
            context.Response.StatusCode = StatusCodes.Status206PartialContent;
            context.Response.Headers.ContentRange = $"bytes {start}-{Content.Length - 1}/{Content.Length}";
        }
        else start = 0;

        context.Response.ContentLength = Content.Length - start;
        long send = Content.Length - start;
        if (CutNextResponseAfter is { } cut)
        {
            CutNextResponseAfter = null;
            await context.Response.Body.WriteAsync(Content.AsMemory((int)start, (int)Math.Min(cut, send)));
            await context.Response.Body.FlushAsync();
            context.Abort();
            return;
        }
        for (long sent = 0; sent < send; sent += 64 * 1024)
        {
            await context.Response.Body.WriteAsync(Content.AsMemory((int)(start + sent), (int)Math.Min(64 * 1024, send - sent)));
            if (ChunkDelay > TimeSpan.Zero) await Task.Delay(ChunkDelay);
        }
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}

using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Llama2.TestSupport;

/// <summary>
/// Serves one file at /files/{any name} — or, started with <see cref="StartAsync(IReadOnlyDictionary{string, byte[]})"/>,
/// several files each at its own path — on a loopback port, with HTTP Range support; it can cut the connection part
/// way through a response, as a flaky network would, send slowly, redirect, and require a bearer token.
/// </summary>
public sealed class LocalFileServer : IAsyncDisposable
{
    readonly WebApplication _app;
    readonly IReadOnlyDictionary<string, byte[]> _files;

    LocalFileServer(WebApplication app, byte[] content, IReadOnlyDictionary<string, byte[]> files)
    {
        _app = app;
        Content = content;
        _files = files;
    }

    /// <summary>The one file served at /files/{any name}.</summary>
    public byte[] Content { get; }
    /// <summary>The Range header of every request, "" when there was none.</summary>
    public ConcurrentQueue<string> RangeHeaders { get; } = new();
    /// <summary>Each request's path (and query) with its Authorization header ("" when there was none).</summary>
    public ConcurrentQueue<(string Path, string Authorization)> Requests { get; } = new();
    /// <summary>Cut the connection of the next response after this many bytes (then serve normally).</summary>
    public long? CutNextResponseAfter { get; set; }
    public bool IgnoreRange { get; set; }
    /// <summary>Pause after each 64 KiB sent, to make a download slow enough to watch.</summary>
    public TimeSpan ChunkDelay { get; set; }
    /// <summary>Paths (without the leading /) answered with 302 to another path, as a CDN behind a hub.</summary>
    public ConcurrentDictionary<string, string> Redirects { get; } = new();
    /// <summary>
    /// When set, a request for a path not starting with one of <see cref="PublicPrefixes"/> needs
    /// <c>Authorization: Bearer</c> this token: 401 without one, 403 with another (as a gated Hugging Face repo answers).
    /// </summary>
    public string? RequiredBearerToken { get; set; }
    public List<string> PublicPrefixes { get; } = [];
    public Uri BaseUrl => new(_app.Urls.First() + "/");
    public Uri FileUrl => UrlFor("file");
    public Uri UrlFor(string name) => new(_app.Urls.First() + "/files/" + name);
    public Uri MissingUrl => new(_app.Urls.First() + "/missing");

    public static Task<LocalFileServer> StartAsync(byte[] content) => StartAsync(content, new Dictionary<string, byte[]>());

    /// <summary>Serves each file at /{its key}; other paths are 404.</summary>
    public static Task<LocalFileServer> StartAsync(IReadOnlyDictionary<string, byte[]> files) => StartAsync([], files);

    static async Task<LocalFileServer> StartAsync(byte[] content, IReadOnlyDictionary<string, byte[]> files)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var server = new LocalFileServer(app, content, files);
        if (files.Count == 0) app.MapGet("/files/{name}", context => server.ServeAsync(context, server.Content));
        else app.MapGet("/{**path}", server.ServePathAsync);
        await app.StartAsync();
        return server;
    }

    async Task ServePathAsync(HttpContext context)
    {
        string path = context.Request.Path.Value!.TrimStart('/');
        string authorization = context.Request.Headers.Authorization.ToString();
        Requests.Enqueue((path + context.Request.QueryString, authorization));
        if (RequiredBearerToken is { } token && !PublicPrefixes.Any(path.StartsWith) && authorization != $"Bearer {token}")
        {
            context.Response.StatusCode = authorization.Length == 0 ? StatusCodes.Status401Unauthorized : StatusCodes.Status403Forbidden;
            return;
        }
        if (Redirects.TryGetValue(path, out var target))
        {
            context.Response.Redirect("/" + target);
            return;
        }
        if (!_files.TryGetValue(path, out var content))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }
        await ServeAsync(context, content);
    }

    async Task ServeAsync(HttpContext context, byte[] content)
    {
        string range = context.Request.Headers.Range.ToString();
        RangeHeaders.Enqueue(range);
        long start = 0;
        if (!IgnoreRange && range.StartsWith("bytes=") && range.EndsWith('-') && long.TryParse(range[6..^1], out start))
        {
            if (start >= content.Length)
            {
                context.Response.StatusCode = StatusCodes.Status416RangeNotSatisfiable;
                return;
            }
            context.Response.StatusCode = StatusCodes.Status206PartialContent;
            context.Response.Headers.ContentRange = $"bytes {start}-{content.Length - 1}/{content.Length}";
        }
        else start = 0;

        context.Response.ContentLength = content.Length - start;
        long send = content.Length - start;
        if (CutNextResponseAfter is { } cut)
        {
            CutNextResponseAfter = null;
            await context.Response.Body.WriteAsync(content.AsMemory((int)start, (int)Math.Min(cut, send)));
            await context.Response.Body.FlushAsync();
            context.Abort();
            return;
        }
        for (long sent = 0; sent < send; sent += 64 * 1024)
        {
            await context.Response.Body.WriteAsync(content.AsMemory((int)(start + sent), (int)Math.Min(64 * 1024, send - sent)));
            if (ChunkDelay > TimeSpan.Zero) await Task.Delay(ChunkDelay);
        }
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}

using System.Diagnostics;
using Llama2.Engine.Generation;
using Llama2.Engine.Scheduling;
using Llama2.Server.Generation;

namespace Llama2.Server.Metrics;

/// <summary>
/// Records one generation request in <see cref="ServerMetrics"/>: the endpoints start it once the request is queued,
/// hand it every token they read, and dispose it when the request ends, however it ends.
/// </summary>
public sealed class GenerationMetrics : IDisposable
{
    readonly ServerMetrics _metrics;
    readonly HttpContext _http;
    readonly ScheduledGeneration _scheduled;
    readonly string _endpoint;
    readonly long _startedAt = Stopwatch.GetTimestamp();
    TimeSpan _firstTokenElapsed, _lastTokenElapsed;
    int _tokens;
    string? _finishReason;
    bool _disposed;

    GenerationMetrics(ServerMetrics metrics, HttpContext http, ValidatedGeneration generation, ScheduledGeneration scheduled)
    {
        _metrics = metrics;
        _http = http;
        _scheduled = scheduled;
        // The route, not the path: the label takes a fixed set of values whatever the request's spelling.
        _endpoint = (http.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText?.TrimStart('/') ?? "generate";
        metrics.PromptTokens.Inc(generation.PromptIds.Length);
    }

    /// <summary>Starts recording a request the scheduler has accepted.</summary>
    public static GenerationMetrics Start(HttpContext http, ValidatedGeneration generation, ScheduledGeneration scheduled) =>
        new(http.RequestServices.GetRequiredService<ServerMetrics>(), http, generation, scheduled);

    /// <summary>A token read from the scheduler; the last one carries the summary.</summary>
    public void OnToken(GeneratedToken token)
    {
        _metrics.GeneratedTokens.Inc();
        if (_tokens++ == 0)
        {
            _firstTokenElapsed = token.Elapsed;
            _metrics.QueueTime.Observe(_scheduled.QueueTime.TotalSeconds);
            _metrics.TimeToFirstToken.Observe((_scheduled.QueueTime + token.Elapsed).TotalSeconds);
        }
        _lastTokenElapsed = token.Elapsed;
        if (token.Summary is { } summary) _finishReason = summary.FinishReason.ToTgi();
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_tokens >= 2)
            _metrics.TimePerOutputToken.Observe((_lastTokenElapsed - _firstTokenElapsed).TotalSeconds / (_tokens - 1));
        _metrics.RequestDuration.WithLabels(_endpoint).Observe(Stopwatch.GetElapsedTime(_startedAt).TotalSeconds);
        var reason = _finishReason ?? (_http.RequestAborted.IsCancellationRequested ? "cancelled" : "error");
        _metrics.Generations.WithLabels(_endpoint, reason).Inc();
    }
}

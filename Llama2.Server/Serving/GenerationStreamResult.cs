using System.Globalization;
using Llama2.Engine.Generation;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Json;

namespace Llama2.Server.Serving;

/// <summary>
/// Streams a running generation as Server-Sent Events, for every API; each API says what its events are (TGI: one
/// per token, the last with the details; OpenAI: chunks, then <c>[DONE]</c>). Events are flushed as the tokens come.
/// An error after the stream started goes out as the API's error event. A comment line goes out when no token came for
/// a while, so proxies keep the connection open (ASP.NET Core's ServerSentEvents result cannot send comments, hence
/// this one). When the client goes away the stream just stops: the scheduler, holding the same cancellation, frees
/// the sequence at its next token.
/// </summary>
public abstract class GenerationStreamResult(RunningGeneration generation, TimeSpan heartbeat) : IResult
{
    static readonly byte[] Heartbeat = ": keep-alive\n\n"u8.ToArray();

    protected RunningGeneration Generation => generation;

    /// <summary>Events before the first token (OpenAI: the assistant's role).</summary>
    protected virtual ValueTask WriteStartAsync(ServerSentEventWriter events) => ValueTask.CompletedTask;

    /// <summary>The events of one token (maybe none); with the last one, <see cref="RunningGeneration.Finished"/> is set.</summary>
    protected abstract ValueTask WriteTokenAsync(ServerSentEventWriter events, GeneratedToken token);

    /// <summary>Events after the last token (OpenAI: the finish reason and the usage).</summary>
    protected virtual ValueTask WriteFinishedAsync(ServerSentEventWriter events, FinishedGeneration finished) => ValueTask.CompletedTask;

    /// <summary>The event of an error after the stream started.</summary>
    protected abstract ValueTask WriteErrorAsync(ServerSentEventWriter events, ApiError error);

    /// <summary>The stream's closing event, after the last token or an error (OpenAI: <c>[DONE]</c>).</summary>
    protected virtual ValueTask WriteEndAsync(ServerSentEventWriter events) => ValueTask.CompletedTask;

    public async Task ExecuteAsync(HttpContext http)
    {
        using var _ = generation;
        var json = http.RequestServices.GetRequiredService<IOptions<JsonOptions>>().Value.SerializerOptions;
        var response = http.Response;
        var aborted = http.RequestAborted;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no"; // nginx: do not buffer the stream
        response.Headers["x-prompt-tokens"] = generation.Generation.PromptIds.Length.ToString(CultureInfo.InvariantCulture);
        http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        await response.StartAsync(aborted);
        var events = new ServerSentEventWriter(response, json, aborted);

        try
        {
            await WriteStartAsync(events);
            await events.FlushAsync();
            while (true)
            {
                var more = generation.WaitToReadAsync(aborted).AsTask();
                while (!more.IsCompleted)
                {
                    try
                    {
                        await more.WaitAsync(heartbeat, aborted);
                    }
                    catch (TimeoutException)
                    {
                        await events.WriteCommentAsync(Heartbeat);
                        await events.FlushAsync();
                    }
                }
                if (!await more) break;
                while (generation.TryRead(out var token)) await WriteTokenAsync(events, token);
                await events.FlushAsync();
            }
            if (generation.Finished is { } finished) await WriteFinishedAsync(events, finished);
            else await WriteErrorAsync(events, ApiError.GenerationFailed("generation ended without a result"));
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            return; // the client went away
        }
        catch (Exception e)
        {
            var logger = http.RequestServices.GetRequiredService<ILogger<GenerationStreamResult>>();
            await WriteErrorAsync(events, GenerationFailures.ToApiError(e, logger));
        }
        await WriteEndAsync(events);
        await events.FlushAsync();
    }
}

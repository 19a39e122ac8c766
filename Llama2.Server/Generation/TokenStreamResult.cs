using System.Buffers;
using System.Text.Json;
using Llama2.Server.Errors;
using Llama2.Server.Serving;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.Extensions.Options;

namespace Llama2.Server.Generation;

/// <summary>
/// Streams a generation as Server-Sent Events in TGI's shape: one <c>data:</c> event per token, flushed at once,
/// the last one with the text and details; an error after the stream started is an event with TGI's error body.
/// A comment line goes out when no token came for a while, so proxies keep the connection open. (ASP.NET Core's
/// ServerSentEvents result cannot send comments, hence this one.)
/// </summary>
public sealed class TokenStreamResult(RunningGeneration generation, TimeSpan heartbeat)
    : IResult, IEndpointMetadataProvider
{
    static readonly byte[] DataPrefix = "data: "u8.ToArray();
    static readonly byte[] EventEnd = "\n\n"u8.ToArray();
    static readonly byte[] Heartbeat = ": keep-alive\n\n"u8.ToArray();

    public async Task ExecuteAsync(HttpContext http)
    {
        using var _ = generation;
        var json = http.RequestServices.GetRequiredService<IOptions<JsonOptions>>().Value.SerializerOptions;
        var logger = http.RequestServices.GetRequiredService<ILogger<TokenStreamResult>>();
        var response = http.Response;
        var aborted = http.RequestAborted;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no"; // nginx: do not buffer the stream
        response.Headers["x-prompt-tokens"] = generation.Generation.PromptIds.Length.ToString(System.Globalization.CultureInfo.InvariantCulture);
        http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        await response.StartAsync(aborted);

        try
        {
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
                        await response.Body.WriteAsync(Heartbeat, aborted);
                        await response.Body.FlushAsync(aborted);
                    }
                }
                if (!await more) break;
                while (generation.TryRead(out var token))
                {
                    var finished = generation.Finished; // set with the last token
                    var item = new StreamResponse(token.Index + 1, token.ToTokenInfo(), finished?.Summary.GeneratedText,
                        finished?.ToStreamDetails());
                    await WriteEventAsync(response, item, json, aborted);
                }
                await response.Body.FlushAsync(aborted);
            }
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            // The client went away; the scheduler has seen the same token and frees the slot.
        }
        catch (ArgumentException e)
        {
            await WriteEventAsync(response, TgiErrors.Body(ApiError.Invalid(e.Message)), json, aborted);
        }
        catch (Exception e)
        {
            logger.LogError(e, "Generation failed while streaming");
            await WriteEventAsync(response, TgiErrors.Body(ApiError.GenerationFailed("generation failed")), json, aborted);
        }
    }

    static async Task WriteEventAsync<T>(HttpResponse response, T item, JsonSerializerOptions json, CancellationToken cancellationToken)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        buffer.Write(DataPrefix);
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = json.Encoder })) JsonSerializer.Serialize(writer, item, json);
        buffer.Write(EventEnd);
        await response.Body.WriteAsync(buffer.WrittenMemory, cancellationToken);
    }

    public static void PopulateMetadata(System.Reflection.MethodInfo method, EndpointBuilder builder) =>
        builder.Metadata.Add(new ProducesResponseTypeMetadata(StatusCodes.Status200OK, typeof(StreamResponse), ["text/event-stream"]));
}

using Llama2.Server.Model;

namespace Llama2.Server.Generation;

public static class GenerationEndpoints
{
    /// <summary>The TGI request checks.</summary>
    public static IServiceCollection AddGeneration(this IServiceCollection services) =>
        services.AddSingleton<GenerateRequestValidator>();

    /// <summary>POST /generate and POST /generate_stream, TGI's text-generation API.</summary>
    public static IEndpointRouteBuilder MapGeneration(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("").WithTags("Generation").RequireLoadedModel(TgiErrors.Result);

        group.MapPost("/generate", Generate)
            .WithName("Generate")
            .WithSummary("Generate text for a prompt")
            .WithDescription("TGI's /generate. Answers one JSON object, or streams Server-Sent Events as /generate_stream " +
                "when `stream` is true or the request accepts `text/event-stream`. Response headers give token counts " +
                "and timings (x-generated-tokens, x-prompt-tokens, x-time-per-token, x-inference-time, x-queue-time, " +
                "x-tokens-per-second).")
            .AcceptsGenerateRequest();

        group.MapPost("/generate_stream", GenerateStream)
            .WithName("GenerateStream")
            .WithSummary("Generate text for a prompt, streamed token by token")
            .WithDescription("TGI's /generate_stream: Server-Sent Events, one `data:` event per token " +
                "(`{\"index\",\"token\":{\"id\",\"text\",\"logprob\",\"special\"},\"generated_text\":null,\"details\":null}`); " +
                "the last event carries `generated_text` and `details`. An error after the stream started is an event " +
                "`{\"error\",\"error_type\"}`. Idle streams get `: keep-alive` comment lines.")
            .AcceptsGenerateRequest();

        return routes;
    }

    /// <summary>What both endpoints take (TGI's request, with an example) and their error answers.</summary>
    static RouteHandlerBuilder AcceptsGenerateRequest(this RouteHandlerBuilder endpoint) => endpoint
        .Accepts<GenerateRequest>("application/json")
        .ProducesEventStream<StreamResponse>()
        .ProducesTgiErrors(StatusCodes.Status413PayloadTooLarge, StatusCodes.Status415UnsupportedMediaType,
            StatusCodes.Status422UnprocessableEntity, StatusCodes.Status429TooManyRequests,
            StatusCodes.Status500InternalServerError, StatusCodes.Status503ServiceUnavailable)
        .WithRequestExample("""
            {"inputs": "Once upon a time", "parameters": {"max_new_tokens": 32, "temperature": 0.8, "top_p": 0.9, "seed": 42, "stop": ["\n\n"], "details": true}}
            """);

    static async Task<Results<Ok<GenerateResponse>, TokenStreamResult, JsonHttpResult<ErrorResponse>, EmptyHttpResult>> Generate(
        GenerateRequest body, HttpContext http, GenerateRequestValidator validator, GenerationQueue queue, IOptions<ApiOptions> api)
    {
        var loaded = http.LoadedModel();
        var started = validator.Validate(body, loaded).Then(generation => queue.Submit(loaded, generation, http));
        if (!started.Passed) return TgiErrors.Result(started.Error, http);
        bool stream = body.Stream || http.Request.Headers.Accept.Any(a => a?.Contains("text/event-stream", StringComparison.OrdinalIgnoreCase) == true);
        if (stream) return new TokenStreamResult(started.Value, Heartbeat(api));

        using var running = started.Value;
        var tokens = new List<TokenInfo>();
        var result = await running.ReadToEndAsync(token => tokens.Add(token.ToTokenInfo()));
        if (result is null) return TypedResults.Empty; // nobody is listening any more
        if (!result.Passed) return TgiErrors.Result(result.Error, http);

        var finished = result.Value;
        TimingHeaders.Write(http.Response, finished);
        var parameters = body.Parameters ?? new GenerateParameters();
        var details = parameters.Details
            ? finished.ToDetails(parameters.DecoderInputDetails ? TgiMapping.Prefill(loaded.Model.Tokenizer, running.Generation.PromptIds) : [], tokens)
            : null;
        var text = parameters.ReturnFullText == true ? body.Inputs + finished.Summary.GeneratedText : finished.Summary.GeneratedText;
        return TypedResults.Ok(new GenerateResponse(text, details));
    }

    static Results<TokenStreamResult, JsonHttpResult<ErrorResponse>> GenerateStream(
        GenerateRequest body, HttpContext http, GenerateRequestValidator validator, GenerationQueue queue, IOptions<ApiOptions> api)
    {
        var loaded = http.LoadedModel();
        var started = validator.Validate(body, loaded).Then(generation => queue.Submit(loaded, generation, http));
        return started.Passed ? new TokenStreamResult(started.Value, Heartbeat(api)) : TgiErrors.Result(started.Error, http);
    }

    static TimeSpan Heartbeat(IOptions<ApiOptions> api) => TimeSpan.FromSeconds(api.Value.StreamHeartbeatSeconds);
}

using System.Text;
using Llama2.Server.Model;

namespace Llama2.Server.OpenAI;

public static class OpenAIEndpoints
{
    /// <summary>The OpenAI request checks, and OpenAI's error shape for every request under /v1.</summary>
    public static IServiceCollection AddOpenAI(this IServiceCollection services) => services
        .AddSingleton<OpenAIRequestValidator>()
        .AddSingleton(OpenAIErrors.Shape);

    /// <summary>
    /// OpenAI's API under /v1: POST /v1/chat/completions, POST /v1/completions, GET /v1/models. They generate through
    /// the same limits, queue, metrics and log as TGI's /generate; every error under /v1, unknown routes included,
    /// has OpenAI's error body.
    /// </summary>
    public static IEndpointRouteBuilder MapOpenAI(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup(OpenAIErrors.PathPrefix.Value!).WithTags("OpenAI").RequireLoadedModel(OpenAIErrors.Result);

        group.MapPost("/chat/completions", ChatCompletions)
            .WithName("ChatCompletions")
            .WithSummary("Chat completion (OpenAI)")
            .WithDescription("OpenAI's chat completions: the conversation (`messages`) goes through the Llama 2 chat " +
                "template and the model writes the assistant's reply. Answers a `chat.completion`, or with `stream` " +
                "`chat.completion.chunk` events (the first with `delta.role`, then `delta.content`, then the " +
                "`finish_reason`; with `stream_options.include_usage` a chunk with `usage`), then `data: [DONE]`. " +
                "`n` must be 1. The JSON answer has the x-tokens-per-second header (and x-generated-tokens, " +
                "x-prompt-tokens, x-time-per-token, x-inference-time, x-queue-time).")
            .Accepts<ChatCompletionRequest>("application/json")
            .ProducesEventStream<ChatCompletionChunk>()
            .ProducesOpenAIErrors(OpenAIGenerationErrors)
            .WithRequestExample("""
                {"model": "stories15M", "messages": [{"role": "system", "content": "You are a storyteller."}, {"role": "user", "content": "Tell me a story about a cat."}], "max_tokens": 64, "temperature": 0.8, "seed": 42}
                """);

        group.MapPost("/completions", Completions)
            .WithName("Completions")
            .WithSummary("Text completion (OpenAI, legacy)")
            .WithDescription("OpenAI's completions: the text that follows `prompt`. Answers a `text_completion`, or " +
                "with `stream` `text_completion` chunks, then `data: [DONE]`. `echo`, `suffix` and `best_of` > 1 are " +
                "refused; `logprobs` takes 0 to 5.")
            .Accepts<CompletionRequest>("application/json")
            .ProducesEventStream<Completion>()
            .ProducesOpenAIErrors(OpenAIGenerationErrors)
            .WithRequestExample("""
                {"model": "stories15M", "prompt": "Once upon a time", "max_tokens": 64, "temperature": 0.8, "stop": ["\n\n"]}
                """);

        group.MapGet("/models", Models)
            .WithName("Models")
            .WithSummary("The served model (OpenAI)")
            .WithDescription("OpenAI's model list: the one model this server serves.")
            .ProducesOpenAIErrors(StatusCodes.Status503ServiceUnavailable);

        group.MapGet("/models/{model}", ModelById)
            .WithName("Model")
            .WithSummary("One model (OpenAI)")
            .WithDescription("The served model when `model` is its id, else 404.")
            .ProducesOpenAIErrors(StatusCodes.Status404NotFound, StatusCodes.Status503ServiceUnavailable);

        return routes;
    }

    static readonly int[] OpenAIGenerationErrors =
    [
        StatusCodes.Status400BadRequest, StatusCodes.Status413PayloadTooLarge, StatusCodes.Status415UnsupportedMediaType,
        StatusCodes.Status429TooManyRequests, StatusCodes.Status500InternalServerError, StatusCodes.Status503ServiceUnavailable,
    ];

    static Task<Results<Ok<ChatCompletion>, ChatCompletionStreamResult, JsonHttpResult<OpenAIErrorResponse>, EmptyHttpResult>> ChatCompletions(
        ChatCompletionRequest body, HttpContext http, OpenAIRequestValidator validator, GenerationQueue queue, IOptions<ApiOptions> api) =>
        AnswerAsync(http, validator.Validate(body, http.LoadedModel()), queue, chat: true,
            (running, reply, includeUsage) => new ChatCompletionStreamResult(running, Heartbeat(api), reply, includeUsage),
            (reply, text, logprobs, finished) => new ChatCompletion(reply.Id, "chat.completion", reply.Created, reply.Model,
                [new ChatCompletionChoice(0, new ChatCompletionMessage("assistant", text, null), OpenAIReply.ChatLogprobs(logprobs),
                    OpenAIReply.FinishReason(finished))],
                OpenAIReply.Usage(finished), reply.SystemFingerprint));

    static Task<Results<Ok<Completion>, CompletionStreamResult, JsonHttpResult<OpenAIErrorResponse>, EmptyHttpResult>> Completions(
        CompletionRequest body, HttpContext http, OpenAIRequestValidator validator, GenerationQueue queue, IOptions<ApiOptions> api) =>
        AnswerAsync(http, validator.Validate(body, http.LoadedModel()), queue, chat: false,
            (running, reply, includeUsage) => new CompletionStreamResult(running, Heartbeat(api), reply, includeUsage),
            (reply, text, logprobs, finished) => new Completion(reply.Id, "text_completion", reply.Created, reply.Model,
                [new CompletionChoice(text, 0, OpenAIReply.CompletionLogprobs(logprobs), OpenAIReply.FinishReason(finished))],
                OpenAIReply.Usage(finished), reply.SystemFingerprint));

    /// <summary>
    /// What both endpoints do with a checked request: queue it, then stream the answer (<paramref name="stream"/>) or read
    /// the reply to its end and answer it as JSON (<paramref name="answer"/>) with the timing headers.
    /// </summary>
    static async Task<Results<Ok<TAnswer>, TStream, JsonHttpResult<OpenAIErrorResponse>, EmptyHttpResult>> AnswerAsync<TAnswer, TStream>(
        HttpContext http, Checked<OpenAIGeneration> request, GenerationQueue queue, bool chat,
        Func<RunningGeneration, OpenAIReply, bool, TStream> stream,
        Func<OpenAIReply, string, List<TokenLogprobEntry>?, FinishedGeneration, TAnswer> answer)
        where TStream : IResult
    {
        if (!request.Passed) return OpenAIErrors.Result(request.Error, http);
        var loaded = http.LoadedModel();
        var started = queue.Submit(loaded, request.Value.Generation, http);
        if (!started.Passed) return OpenAIErrors.Result(started.Error, http);
        var reply = new OpenAIReply(loaded, request.Value, chat);
        if (request.Value.Stream) return stream(started.Value, reply, request.Value.IncludeUsage);

        using var running = started.Value;
        var (result, text, logprobs) = await ReadReplyAsync(running, reply, request.Value.Logprobs);
        if (result is null) return TypedResults.Empty; // nobody is listening any more
        if (!result.Passed) return OpenAIErrors.Result(result.Error, http);
        TimingHeaders.Write(http.Response, result.Value);
        return TypedResults.Ok(answer(reply, text, logprobs, result.Value));
    }

    /// <summary>A JSON answer's whole reply: how the generation ended, the text, and the log-probabilities if asked for.</summary>
    static async Task<(Checked<FinishedGeneration>? Result, string Text, List<TokenLogprobEntry>? Logprobs)> ReadReplyAsync(
        RunningGeneration running, OpenAIReply reply, bool logprobs)
    {
        var text = new StringBuilder();
        var entries = logprobs ? new List<TokenLogprobEntry>() : null;
        var result = await running.ReadToEndAsync(token =>
        {
            var (piece, logprob) = reply.Read(token);
            text.Append(piece);
            if (logprob is not null) entries?.Add(logprob);
        });
        return (result, text.ToString(), entries);
    }

    static Ok<ModelList> Models(HttpContext http) => TypedResults.Ok(new ModelList("list", [Card(http.LoadedModel())]));

    static Results<Ok<ModelCard>, JsonHttpResult<OpenAIErrorResponse>> ModelById(string model, HttpContext http)
    {
        var loaded = http.LoadedModel();
        return model == loaded.ModelId
            ? TypedResults.Ok(Card(loaded))
            : OpenAIErrors.Result(ApiError.Invalid($"The model '{model}' does not exist: this server serves '{loaded.ModelId}'", "model")
                with { StatusCode = StatusCodes.Status404NotFound }, http);
    }

    static ModelCard Card(LoadedModel loaded) => new(loaded.ModelId, "model",
        new DateTimeOffset(File.GetLastWriteTimeUtc(loaded.Model.Checkpoint.Path)).ToUnixTimeSeconds(), "llama2-dotnet");

    static TimeSpan Heartbeat(IOptions<ApiOptions> api) => TimeSpan.FromSeconds(api.Value.StreamHeartbeatSeconds);
}

using System.Text.Json;
using Llama2.Engine.Chat;
using Llama2.Engine.Sampling;
using Llama2.Server.Model;

namespace Llama2.Server.OpenAI;

/// <summary>A checked OpenAI request: the generation, and what its answer carries.</summary>
/// <param name="Generation">What the scheduler runs.</param>
/// <param name="Stream">Answer with chunks over Server-Sent Events.</param>
/// <param name="IncludeUsage">A stream ends with a usage chunk.</param>
/// <param name="Logprobs">The answer carries each token's log-probability (and the top ones, as the sampling asks).</param>
public sealed record OpenAIGeneration(ValidatedGeneration Generation, bool Stream, bool IncludeUsage, bool Logprobs);

/// <summary>
/// Checks OpenAI requests and turns them into <see cref="OpenAIGeneration"/>s, with OpenAI's parameter names and
/// ranges. What both endpoints share (n, temperature, top_p, penalties, seed, stop, logit_bias) is checked once; the
/// conversation goes through the Llama 2 chat template (<see cref="Llama2ChatTemplate"/>); the server's limits are
/// <see cref="GenerationLimits"/> and <see cref="InputText"/>.
/// </summary>
public sealed class OpenAIRequestValidator(GenerationLimits limits, IOptions<ApiOptions> api)
{
    /// <summary>Most alternatives the legacy completions' <c>logprobs</c> may ask for (OpenAI's limit).</summary>
    public const int MaxCompletionLogprobs = 5;

    public Checked<OpenAIGeneration> Validate(ChatCompletionRequest body, LoadedModel loaded)
    {
        var options = api.Value;
        if (body.MaxCompletionTokens is { } newer && body.MaxTokens is { } older && newer != older)
            return ApiError.Invalid("give `max_completion_tokens` or `max_tokens` (its older name), not both with different values", "max_tokens");
        var names = new GenerationParameterNames("messages", body.MaxCompletionTokens is null && body.MaxTokens is not null
            ? "max_tokens" : "max_completion_tokens", "stop");
        int? maxTokens = body.MaxCompletionTokens ?? body.MaxTokens;
        bool logprobs = body.Logprobs == true;
        int topLogprobs = body.TopLogprobs ?? 0;

        var messages = Messages(body.Messages, options);
        if (!messages.Passed) return messages.Error;
        var stops = Stops(body.Stop);
        if (!stops.Passed) return stops.Error;
        var error = CheckShared(body, maxTokens, stops.Value, names)
            ?? (body.TopLogprobs is not null and not 0 && !logprobs
                ? ApiError.Invalid("`top_logprobs` needs `logprobs` set to true", "top_logprobs") : null)
            ?? (topLogprobs is < 0 or > SamplingOptions.MaxTopLogprobs
                ? ApiError.Invalid($"`top_logprobs` must be between 0 and {SamplingOptions.MaxTopLogprobs}. Given: {topLogprobs}", "top_logprobs") : null)
            ?? (body.Tools is { ValueKind: JsonValueKind.Array } tools && tools.GetArrayLength() > 0
                ? ApiError.Invalid("`tools` are not supported: this model calls no functions", "tools") : null)
            ?? CheckResponseFormat(body.ResponseFormat);
        if (error is not null) return error;

        var conversation = Conversation(messages.Value, body.ContextShift, maxTokens, loaded);
        if (!conversation.Passed) return conversation.Error;
        return Apply(body, loaded, conversation.Value.Ids, maxTokens, stops.Value, logprobs, logprobs ? topLogprobs : 0, names,
            conversation.Value.Context);
    }

    /// <summary>
    /// The conversation's prompt through the chat template. When it may go on past the context window, its oldest whole
    /// turns after the system message are left out until the reply has room (<see cref="GenerationLimits.ConversationTokens"/>),
    /// and a shift keeps BOS and the system prompt, which may then take at most half the window.
    /// </summary>
    Checked<ChatPrompt> Conversation(List<ChatMessage> messages, bool? contextShift, int? maxTokens, LoadedModel loaded)
    {
        var template = new Llama2ChatTemplate(loaded.Model.Tokenizer);
        if (!limits.ContextShift(contextShift)) return new ChatPrompt(template.Encode(messages), new ContextRequest(ContextShift: contextShift));

        var (ids, dropped, truncated) = template.EncodeWithin(messages, limits.ConversationTokens(loaded, maxTokens));
        string? system = messages[0].Role == ChatRole.System ? messages[0].Content : null;
        int keep = template.SystemPrefixLength(ids, system), context = loaded.Scheduler.ContextLength;
        if (keep > context / 2)
            return ApiError.Invalid($"the system message is {keep} tokens in the chat template; to go on past the context " +
                $"it may take at most half of the {context}-token context", "messages");
        return new ChatPrompt(ids, new ContextRequest(ContextShift: contextShift, Keep: keep, DroppedMessages: dropped, TruncatedTokens: truncated));
    }

    /// <summary>A conversation's prompt ids, and what the context window is asked to do with them.</summary>
    sealed record ChatPrompt(int[] Ids, ContextRequest Context);

    public Checked<OpenAIGeneration> Validate(CompletionRequest body, LoadedModel loaded)
    {
        var names = new GenerationParameterNames("prompt", "max_tokens", "stop");
        var prompt = Prompt(body.Prompt);
        if (!prompt.Passed) return prompt.Error;
        var stops = Stops(body.Stop);
        if (!stops.Passed) return stops.Error;
        var error = InputText.CheckLength(prompt.Value.Length, api.Value, names.Prompt)
            ?? CheckShared(body, body.MaxTokens, stops.Value, names)
            ?? (body.Echo == true ? ApiError.Invalid("`echo` is not supported: the answer holds the generated text only", "echo") : null)
            ?? (!string.IsNullOrEmpty(body.Suffix) ? ApiError.Invalid("`suffix` is not supported (no insertion)", "suffix") : null)
            ?? (body.BestOf is { } bestOf && bestOf != 1
                ? ApiError.Invalid($"`best_of` must be 1: one completion per request is generated. Given: {bestOf}", "best_of") : null)
            ?? (body.Logprobs is < 0 or > MaxCompletionLogprobs
                ? ApiError.Invalid($"`logprobs` must be between 0 and {MaxCompletionLogprobs}. Given: {body.Logprobs}", "logprobs") : null);
        if (error is not null) return error;

        var ids = loaded.Model.Tokenizer.Encode(prompt.Value, bos: true, eos: false).ToArray();
        return Apply(body, loaded, ids, body.MaxTokens, stops.Value, body.Logprobs is not null, body.Logprobs ?? 0, names,
            new ContextRequest(body.Truncate, body.ContextShift));
    }

    /// <summary>The checks both endpoints share, then the server's limits.</summary>
    ApiError? CheckShared(OpenAIRequest body, int? maxTokens, string[] stops, GenerationParameterNames names) =>
        (body.N is { } n && n != 1 ? ApiError.Invalid($"`n` must be 1: one completion per request is generated. Given: {n}", "n") : null)
        ?? limits.CheckMaxNewTokens(maxTokens, names)
        ?? Range(body.Temperature, 0, 2, "temperature")
        ?? Range(body.TopP, 0, 1, "top_p")
        ?? Range(body.PresencePenalty, -2, 2, "presence_penalty")
        ?? Range(body.FrequencyPenalty, -2, 2, "frequency_penalty")
        ?? (body.LogitBias is { ValueKind: JsonValueKind.Object } bias && bias.EnumerateObject().Any()
            ? ApiError.Invalid("`logit_bias` is not supported", "logit_bias") : null)
        ?? limits.CheckStops(stops, names);

    static ApiError? Range(float? value, float min, float max, string param) =>
        value is { } v && !(v >= min && v <= max) ? ApiError.Invalid($"`{param}` must be between {min} and {max}. Given: {v}", param) : null;

    /// <summary>
    /// OpenAI's sampling on the engine's: temperature 0 or top_p 0 is greedy (the most likely token); otherwise
    /// temperature (default 1) and top_p (default 1, off) with a seed, given or drawn.
    /// </summary>
    Checked<OpenAIGeneration> Apply(OpenAIRequest body, LoadedModel loaded, int[] prompt, int? maxTokens, string[] stops,
        bool logprobs, int topLogprobs, GenerationParameterNames names, ContextRequest context)
    {
        bool greedy = body.Temperature == 0 || body.TopP == 0;
        ulong? seed = greedy ? null : body.Seed is { } given ? unchecked((ulong)given) : ValidatedGeneration.RandomSeed();
        var sampling = new SamplingOptions
        {
            Temperature = greedy ? 0f : body.Temperature ?? 1f,
            TopP = body.TopP ?? 1f,
            Seed = seed ?? 1,
            PresencePenalty = body.PresencePenalty ?? 0f,
            FrequencyPenalty = body.FrequencyPenalty ?? 0f,
            TopLogprobs = topLogprobs,
        };
        bool stream = body.Stream == true;
        return limits.Apply(loaded, prompt, maxTokens, sampling, seed, stops, names, context)
            .Then<OpenAIGeneration>(generation => new OpenAIGeneration(generation, stream,
                stream && body.StreamOptions?.IncludeUsage == true, logprobs));
    }

    static Checked<string[]> Stops(JsonElement? stop) => stop switch
    {
        null or { ValueKind: JsonValueKind.Null } => Array.Empty<string>(),
        { ValueKind: JsonValueKind.String } one => new[] { one.GetString()! },
        { ValueKind: JsonValueKind.Array } many when many.EnumerateArray().All(s => s.ValueKind == JsonValueKind.String) =>
            many.EnumerateArray().Select(s => s.GetString()!).ToArray(),
        _ => ApiError.Invalid("`stop` must be a string or an array of strings", "stop"),
    };

    static ApiError? CheckResponseFormat(JsonElement? format) =>
        format is { ValueKind: JsonValueKind.Object } f && f.TryGetProperty("type", out var type)
        && !(type.ValueKind == JsonValueKind.String && type.GetString() == "text")
            ? ApiError.Invalid($"`response_format` of type '{type}' is not supported: the answer is text", "response_format")
            : null;

    /// <summary>The prompt of a completion: a string, or an array holding one string.</summary>
    static Checked<string> Prompt(JsonElement? prompt) => prompt switch
    {
        { ValueKind: JsonValueKind.String } text => text.GetString()!,
        { ValueKind: JsonValueKind.Array } list when list.GetArrayLength() == 1 && list[0].ValueKind == JsonValueKind.String =>
            list[0].GetString()!,
        null or { ValueKind: JsonValueKind.Null } => ApiError.Invalid("`prompt` is required", "prompt"),
        _ => ApiError.Invalid("`prompt` must be a string (one prompt per request; token arrays are not supported)", "prompt"),
    };

    /// <summary>
    /// The conversation as the chat template takes it: at most Api:MaxChatMessages messages whose content is a string
    /// or up to Api:MaxContentParts text parts (joined with line breaks), Api:MaxInputCharacters in all, roles in an
    /// order the template can encode ("developer" is OpenAI's newer name for "system").
    /// </summary>
    static Checked<List<ChatMessage>> Messages(IReadOnlyList<ChatCompletionRequestMessage>? given, ApiOptions options)
    {
        if (given is null || given.Count == 0)
            return ApiError.Invalid("`messages` must hold at least one message", "messages");
        if (given.Count > options.MaxChatMessages)
            return ApiError.Invalid($"`messages` may hold at most {options.MaxChatMessages} messages. Given: {given.Count}", "messages");
        var messages = new List<ChatMessage>(given.Count);
        int characters = 0;
        for (int i = 0; i < given.Count; i++)
        {
            var message = given[i];
            if (message?.Role is not { } role) return ApiError.Invalid($"`messages[{i}].role` is required", $"messages[{i}].role");
            var content = Content(message.Content, $"messages[{i}].content", options);
            if (!content.Passed) return content.Error;
            characters += content.Value.Length;
            messages.Add(new ChatMessage(role == "developer" ? ChatRole.System : role, content.Value));
        }
        if (InputText.CheckLength(characters, options, "messages") is { } tooLong) return tooLong;
        if (Llama2ChatTemplate.Validate(messages) is { } problem) return ApiError.Invalid(problem, "messages");
        return messages;
    }

    static Checked<string> Content(JsonElement? content, string param, ApiOptions options)
    {
        switch (content)
        {
            case { ValueKind: JsonValueKind.String } text:
                return text.GetString()!;
            case { ValueKind: JsonValueKind.Array } parts:
                if (parts.GetArrayLength() > options.MaxContentParts)
                    return ApiError.Invalid($"`{param}` may hold at most {options.MaxContentParts} parts. Given: {parts.GetArrayLength()}", param);
                var texts = new List<string>();
                int j = 0;
                foreach (var part in parts.EnumerateArray())
                {
                    if (part.ValueKind != JsonValueKind.Object || !part.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
                        return ApiError.Invalid($"`{param}[{j}]` must be an object with a `type`", $"{param}[{j}]");
                    if (type.GetString() != "text")
                        return ApiError.Invalid($"`{param}[{j}]` is a '{type.GetString()}' part; only text parts are supported", $"{param}[{j}]");
                    if (!part.TryGetProperty("text", out var text) || text.ValueKind != JsonValueKind.String)
                        return ApiError.Invalid($"`{param}[{j}].text` must be a string", $"{param}[{j}].text");
                    texts.Add(text.GetString()!);
                    j++;
                }
                return string.Join('\n', texts);
            case null or { ValueKind: JsonValueKind.Null }:
                return ApiError.Invalid($"`{param}` is required", param);
            default:
                return ApiError.Invalid($"`{param}` must be a string or an array of text parts", param);
        }
    }
}

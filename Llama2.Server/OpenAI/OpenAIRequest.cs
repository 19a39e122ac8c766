using System.Text.Json;

namespace Llama2.Server.OpenAI;

/// <summary>
/// What /v1/chat/completions and /v1/completions both take. Fields OpenAI defines that are not listed here are ignored,
/// as unknown fields are; those whose silent absence would change the answer are refused (see the validator).
/// </summary>
public abstract record OpenAIRequest
{
    /// <summary>Any string: one model is served, and the answer names it.</summary>
    public string? Model { get; init; }

    /// <summary>Most tokens to generate (1 to the configured maximum; prompt + this must fit the context, unless it shifts).</summary>
    public int? MaxTokens { get; init; }

    /// <summary>0 to 2; 0 = greedy. Default 1.</summary>
    public float? Temperature { get; init; }

    /// <summary>Nucleus sampling, 0 to 1 (0 = greedy, 1 = off). Default 1.</summary>
    public float? TopP { get; init; }

    /// <summary>Random seed: the same seed and parameters give the same tokens. Absent = a random one.</summary>
    public long? Seed { get; init; }

    /// <summary>A string or an array of strings (up to the configured number): the text stops before the first one.</summary>
    public JsonElement? Stop { get; init; }

    /// <summary>Completions to generate: only 1.</summary>
    public int? N { get; init; }

    /// <summary>Stream chunks as Server-Sent Events, then <c>data: [DONE]</c>.</summary>
    public bool? Stream { get; init; }

    /// <summary>With <c>include_usage</c>, a stream ends with a chunk holding the usage.</summary>
    public StreamOptions? StreamOptions { get; init; }

    /// <summary>-2 to 2: subtracted once from the logit of each token already generated.</summary>
    public float? PresencePenalty { get; init; }

    /// <summary>-2 to 2: subtracted from a token's logit for each time it was generated.</summary>
    public float? FrequencyPenalty { get; init; }

    /// <summary>Accepted and not used.</summary>
    public string? User { get; init; }

    /// <summary>Not supported: a non-empty map is refused.</summary>
    public JsonElement? LogitBias { get; init; }

    /// <summary>
    /// An extension: go on past the context window, dropping the oldest tokens (a chat its oldest turns first, never
    /// the system message); absent = the server's Model:ContextShift.
    /// </summary>
    public bool? ContextShift { get; init; }
}

/// <summary>Options of a streamed answer.</summary>
/// <param name="IncludeUsage">End the stream with a chunk whose <c>choices</c> is empty and whose <c>usage</c> is set.</param>
public sealed record StreamOptions(bool? IncludeUsage);

/// <summary>OpenAI's chat completion request (POST /v1/chat/completions).</summary>
public sealed record ChatCompletionRequest : OpenAIRequest
{
    /// <summary>The conversation: an optional system (or developer) message, then user and assistant messages in turn, ending with the user's.</summary>
    public IReadOnlyList<ChatCompletionRequestMessage>? Messages { get; init; }

    /// <summary>Most tokens to generate; the newer name of max_tokens.</summary>
    public int? MaxCompletionTokens { get; init; }

    /// <summary>Return the log-probability of each generated token.</summary>
    public bool? Logprobs { get; init; }

    /// <summary>0 to 20 most likely tokens at each position, with their log-probabilities (needs logprobs).</summary>
    public int? TopLogprobs { get; init; }

    /// <summary>Not supported (the model calls no functions): a non-empty list is refused.</summary>
    public JsonElement? Tools { get; init; }

    /// <summary>Only <c>{"type": "text"}</c> is supported.</summary>
    public JsonElement? ResponseFormat { get; init; }
}

/// <summary>One message of the conversation.</summary>
public sealed record ChatCompletionRequestMessage
{
    /// <summary>system | developer (as system) | user | assistant</summary>
    public string? Role { get; init; }

    /// <summary>A string, or an array of text parts <c>[{"type": "text", "text": "..."}]</c>.</summary>
    public JsonElement? Content { get; init; }

    /// <summary>Accepted and not used.</summary>
    public string? Name { get; init; }
}

/// <summary>OpenAI's (legacy) completion request (POST /v1/completions).</summary>
public sealed record CompletionRequest : OpenAIRequest
{
    /// <summary>The prompt: a string (or an array holding one string). Generation starts after BOS and it.</summary>
    public JsonElement? Prompt { get; init; }

    /// <summary>0 to 5: return each token's log-probability and this many most likely tokens at each position.</summary>
    public int? Logprobs { get; init; }

    /// <summary>Not supported: true is refused.</summary>
    public bool? Echo { get; init; }

    /// <summary>Not supported: a non-empty suffix is refused.</summary>
    public string? Suffix { get; init; }

    /// <summary>Only 1.</summary>
    public int? BestOf { get; init; }

    /// <summary>An extension, TGI's: keep only the last this many prompt tokens (BOS stays first); absent = all.</summary>
    public int? Truncate { get; init; }
}

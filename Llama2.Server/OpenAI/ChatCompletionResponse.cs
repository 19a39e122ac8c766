using System.Text.Json.Serialization;

namespace Llama2.Server.OpenAI;

/// <summary>OpenAI's chat completion (<c>"object": "chat.completion"</c>).</summary>
/// <param name="Id">chatcmpl-…, the same in every chunk of a stream.</param>
/// <param name="Object">chat.completion</param>
/// <param name="Created">Unix time, in seconds.</param>
/// <param name="Model">The served model's id (whatever the request named).</param>
/// <param name="Choices">One choice.</param>
/// <param name="Usage">Prompt, completion and total tokens.</param>
/// <param name="SystemFingerprint">Names the server version and the model: the same seed and parameters give the same
/// tokens while it stays the same.</param>
public sealed record ChatCompletion(string Id, string Object, long Created, string Model,
    IReadOnlyList<ChatCompletionChoice> Choices, Usage Usage, string SystemFingerprint);

/// <param name="Index">0</param>
/// <param name="Message">The assistant's reply.</param>
/// <param name="Logprobs">Each token's log-probability, when the request asked for them.</param>
/// <param name="FinishReason">stop (end of the reply or a stop sequence) | length (max tokens or the context)</param>
public sealed record ChatCompletionChoice(int Index, ChatCompletionMessage Message, ChatLogprobs? Logprobs, string FinishReason);

/// <param name="Role">assistant</param>
/// <param name="Content">The reply's text.</param>
/// <param name="Refusal">Always null.</param>
public sealed record ChatCompletionMessage(string Role, string Content, string? Refusal);

/// <param name="Content">One entry per generated token (the end-of-sequence token has none).</param>
/// <param name="Refusal">Always null.</param>
public sealed record ChatLogprobs(IReadOnlyList<ChatTokenLogprob> Content, IReadOnlyList<ChatTokenLogprob>? Refusal);

/// <summary>A generated token and its log-probability.</summary>
/// <param name="Token">The token's text (a byte token that is part of a character reads as U+FFFD; see bytes).</param>
/// <param name="Logprob">Natural log of its probability under the distribution it was sampled from (after temperature
/// and penalties); -9999 for a token that could not be drawn.</param>
/// <param name="Bytes">Its UTF-8 bytes.</param>
/// <param name="TopLogprobs">The most likely tokens at its position, most likely first (top_logprobs of them).</param>
public sealed record ChatTokenLogprob(string Token, float Logprob, int[] Bytes, IReadOnlyList<ChatTopLogprob> TopLogprobs);

/// <summary>One of the most likely tokens at a position.</summary>
public sealed record ChatTopLogprob(string Token, float Logprob, int[] Bytes);

/// <param name="PromptTokens">Tokens of the prompt (the conversation through the chat template, BOS included; what is
/// left of it after <c>truncate</c> or dropped turns).</param>
/// <param name="CompletionTokens">Tokens generated (an end-of-sequence token included).</param>
/// <param name="TotalTokens">Their sum.</param>
public sealed record Usage(int PromptTokens, int CompletionTokens, int TotalTokens)
{
    /// <summary>An extension, present when it happened: prompt tokens left out (by <c>truncate</c>, or a chat's oldest turns).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? TruncatedTokens { get; init; }

    /// <summary>An extension, present when it happened: a chat's messages left out, its oldest turns after the system message.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? DroppedMessages { get; init; }

    /// <summary>An extension, present when it happened: times the context window shifted to go on.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? ContextShifts { get; init; }

    /// <summary>An extension, with <see cref="ContextShifts"/>: tokens the shifts dropped from the window.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? DiscardedTokens { get; init; }
}

/// <summary>One chunk of a streamed chat completion (<c>"object": "chat.completion.chunk"</c>).</summary>
/// <param name="Id">The completion's id, the same in every chunk.</param>
/// <param name="Object">chat.completion.chunk</param>
/// <param name="Created">Unix time, in seconds, the same in every chunk.</param>
/// <param name="Model">The served model's id.</param>
/// <param name="SystemFingerprint">As in the JSON answer.</param>
/// <param name="Choices">One choice; none on the usage chunk.</param>
/// <param name="Usage">Only on the last chunk, whose choices are empty, when stream_options.include_usage is set.</param>
public sealed record ChatCompletionChunk(string Id, string Object, long Created, string Model, string SystemFingerprint,
    IReadOnlyList<ChatCompletionChunkChoice> Choices,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Usage? Usage);

/// <param name="Index">0</param>
/// <param name="Delta">What this chunk adds: the role on the first chunk, then text.</param>
/// <param name="Logprobs">The log-probabilities of the tokens of this chunk's text, when asked for.</param>
/// <param name="FinishReason">null until the last chunk of the choice: stop | length.</param>
public sealed record ChatCompletionChunkChoice(int Index, ChatCompletionDelta Delta, ChatLogprobs? Logprobs, string? FinishReason);

/// <param name="Role">assistant, on the first chunk only.</param>
/// <param name="Content">Text added to the reply.</param>
public sealed record ChatCompletionDelta(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Role,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Content);

using System.Text.Json.Serialization;

namespace Llama2.Server.OpenAI;

/// <summary>
/// OpenAI's (legacy) completion, <c>"object": "text_completion"</c>; streamed, each chunk has the same shape with the
/// text it adds.
/// </summary>
/// <param name="Id">cmpl-…, the same in every chunk of a stream.</param>
/// <param name="Object">text_completion</param>
/// <param name="Created">Unix time, in seconds.</param>
/// <param name="Model">The served model's id.</param>
/// <param name="Choices">One choice (none on a stream's usage chunk).</param>
/// <param name="Usage">Prompt, completion and total tokens; in a stream only on its usage chunk.</param>
/// <param name="SystemFingerprint">Names the server version and the model.</param>
public sealed record Completion(string Id, string Object, long Created, string Model, IReadOnlyList<CompletionChoice> Choices,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Usage? Usage, string SystemFingerprint);

/// <param name="Text">The generated text (of this chunk, when streamed).</param>
/// <param name="Index">0</param>
/// <param name="Logprobs">When the request gave logprobs.</param>
/// <param name="FinishReason">stop | length; null until the last chunk of a stream.</param>
public sealed record CompletionChoice(string Text, int Index, CompletionLogprobs? Logprobs, string? FinishReason);

/// <summary>The legacy log-probabilities: one entry per generated token in each list.</summary>
/// <param name="Tokens">Each token's text.</param>
/// <param name="TokenLogprobs">Each token's log-probability.</param>
/// <param name="TopLogprobs">For each position, the most likely tokens (logprobs of them) by text.</param>
/// <param name="TextOffset">Where each token's text starts in the completion's text.</param>
public sealed record CompletionLogprobs(IReadOnlyList<string> Tokens, IReadOnlyList<float> TokenLogprobs,
    IReadOnlyList<Dictionary<string, float>> TopLogprobs, IReadOnlyList<int> TextOffset);

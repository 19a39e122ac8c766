using System.Text.Json.Serialization;

namespace Llama2.Server.Generation;

/// <summary>TGI's /generate answer.</summary>
/// <param name="GeneratedText">The generated text (after the prompt when return_full_text is set).</param>
/// <param name="Details">Only when the request asked for details.</param>
public sealed record GenerateResponse(
    string GeneratedText,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] GenerationDetails? Details);

/// <summary>
/// How a generation went: the details of a /generate answer, and of the last event of a stream, which carries them
/// without the tokens (TGI's StreamDetails).
/// </summary>
public sealed record GenerationDetails
{
    /// <summary>length | eos_token | stop_sequence</summary>
    public required string FinishReason { get; init; }

    /// <summary>Tokens generated.</summary>
    public required int GeneratedTokens { get; init; }

    /// <summary>The seed used when sampling; null for greedy decoding.</summary>
    public required ulong? Seed { get; init; }

    /// <summary>The prompt tokens (when decoder_input_details is set); not on a stream's last event.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<PrefillToken>? Prefill { get; init; }

    /// <summary>Every generated token; not on a stream's last event.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<TokenInfo>? Tokens { get; init; }

    /// <summary>Prompt tokens (after `truncate`).</summary>
    public required int InputLength { get; init; }

    /// <summary>Generated tokens per second, prompt processing included (ours).</summary>
    public required double TokensPerSecond { get; init; }

    /// <summary>From the start of the sequence to its first token (ours).</summary>
    public required double TimeToFirstTokenMs { get; init; }

    /// <summary>Time waiting for a sequence slot (ours).</summary>
    public required double QueueTimeMs { get; init; }

    /// <summary>Prompt tokens left out by `truncate` (ours).</summary>
    public required int TruncatedTokens { get; init; }

    /// <summary>Times the context window shifted to go on (ours; 0 without context_shift).</summary>
    public required int ContextShifts { get; init; }

    /// <summary>Tokens those shifts dropped from the window (ours).</summary>
    public required int DiscardedTokens { get; init; }
}

/// <summary>One generated token.</summary>
/// <param name="Id">Token id.</param>
/// <param name="Text">Its text: whole UTF-8 characters, empty for special tokens and for text held back by a stop sequence.</param>
/// <param name="Logprob">Log-probability of the token under the distribution it was picked from.</param>
/// <param name="Special">Whether it is a control token (BOS, EOS).</param>
public sealed record TokenInfo(int Id, string Text, float? Logprob, bool Special);

/// <summary>One prompt token; the log-probability of prompt tokens is not computed (null).</summary>
public sealed record PrefillToken(int Id, string Text, float? Logprob);

/// <summary>One Server-Sent Event of a stream: a token, and on the last one the whole text and the details.</summary>
/// <param name="Index">1 for the first generated token, as TGI.</param>
/// <param name="Token">The token.</param>
/// <param name="GeneratedText">The whole generated text, on the last event only.</param>
/// <param name="Details">Finish reason, counts and timings (no tokens), on the last event only.</param>
public sealed record StreamResponse(int Index, TokenInfo Token, string? GeneratedText, GenerationDetails? Details);

namespace Llama2.Engine.Generation;

/// <summary>Why generation ended.</summary>
public enum FinishReason
{
    /// <summary>max_new_tokens reached.</summary>
    Length,
    /// <summary>The model produced EOS, or BOS (which run.c treats as the end).</summary>
    EosToken,
    /// <summary>The text ended with one of the request's stop sequences.</summary>
    StopSequence,
    /// <summary>
    /// The context window is full (and the request allows no context shift), or the request's
    /// <see cref="GenerationRequest.MaxPositions"/> are used.
    /// </summary>
    ContextFull,
}

/// <summary>
/// One generated token. <see cref="Text"/> is whole UTF-8 characters: the bytes of a character split over several
/// tokens come out with the token that completes it, and text that may be the start of a stop sequence is held back
/// until it is known not to be. The last token of a generation carries <see cref="Finish"/> and <see cref="Summary"/>.
/// </summary>
public sealed record GeneratedToken(
    int Index,
    int Id,
    string Text,
    float Logprob,
    bool Special,
    TimeSpan Elapsed,
    FinishReason? Finish = null,
    GenerationSummary? Summary = null)
{
    /// <summary>
    /// The most likely tokens at this position with their log-probabilities, under the distribution this token was
    /// drawn from (most likely first), when the request asked for them (<see cref="Sampling.SamplingOptions.TopLogprobs"/>);
    /// otherwise null.
    /// </summary>
    public IReadOnlyList<Sampling.TokenLogprob>? TopLogprobs { get; init; }
}

/// <summary>The totals of one finished generation.</summary>
public sealed record GenerationSummary(
    FinishReason FinishReason,
    int PromptTokens,
    int GeneratedTokens,
    string GeneratedText,
    ulong Seed,
    TimeSpan TimeToFirstToken,
    TimeSpan TotalTime)
{
    /// <summary>Times the context window shifted during this generation (its prompt's shifts included).</summary>
    public int ContextShifts { get; init; }

    /// <summary>Tokens those shifts dropped from the window.</summary>
    public int DiscardedTokens { get; init; }

    /// <summary>Generated tokens per second of total generation time (prompt processing included).</summary>
    public double TokensPerSecond => TotalTime > TimeSpan.Zero ? GeneratedTokens / TotalTime.TotalSeconds : 0;
}

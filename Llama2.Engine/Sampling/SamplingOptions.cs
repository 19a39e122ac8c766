using Llama2.Engine.Generation;

namespace Llama2.Engine.Sampling;

/// <summary>How the next token is picked from the logits.</summary>
public sealed record SamplingOptions
{
    /// <summary>0 = greedy (argmax). Logits are divided by it before the softmax. A finite number ≥ 0.</summary>
    public float Temperature { get; init; } = 1.0f;
    /// <summary>Nucleus sampling; ≤ 0 or ≥ 1 samples from the whole distribution, as run.c.</summary>
    public float TopP { get; init; } = 0.9f;
    /// <summary>Keep only the k most likely tokens; 0 = off.</summary>
    public int TopK { get; init; }
    /// <summary>Seed of run.c's generator.</summary>
    public ulong Seed { get; init; } = 1;
    /// <summary>
    /// Divides positive and multiplies negative logits of tokens already in the sequence; 1 = off. A finite number &gt; 0.
    /// </summary>
    public float RepetitionPenalty { get; init; } = 1.0f;
    /// <summary>
    /// OpenAI's presence penalty: subtracted once from the logit of every token this generation has already produced
    /// (the prompt does not count); 0 = off. A finite number.
    /// </summary>
    public float PresencePenalty { get; init; }
    /// <summary>
    /// OpenAI's frequency penalty: subtracted from a token's logit once for every time this generation has produced it
    /// (the prompt does not count); 0 = off. A finite number.
    /// </summary>
    public float FrequencyPenalty { get; init; }
    /// <summary>
    /// How many of the most likely tokens to report with each generated token, with their log-probabilities
    /// (<see cref="Generation.GeneratedToken.TopLogprobs"/>); 0 = none, at most <see cref="MaxTopLogprobs"/>.
    /// </summary>
    public int TopLogprobs { get; init; }

    /// <summary>Most alternatives <see cref="TopLogprobs"/> may ask for (OpenAI's limit).</summary>
    public const int MaxTopLogprobs = 20;

    public bool IsGreedy => Temperature == 0f;

    /// <summary>Checks the options: every option out of its range, none when they are valid.</summary>
    public IReadOnlyList<OptionError> Validate()
    {
        var errors = new List<OptionError>();
        if (!(Temperature >= 0 && float.IsFinite(Temperature)))
            errors.Add(new(nameof(Temperature), "temperature must be a finite number ≥ 0"));
        if (float.IsNaN(TopP)) errors.Add(new(nameof(TopP), "top_p must be a number"));
        if (TopK < 0) errors.Add(new(nameof(TopK), "top_k must be ≥ 0"));
        if (!(RepetitionPenalty > 0 && float.IsFinite(RepetitionPenalty)))
            errors.Add(new(nameof(RepetitionPenalty), "repetition_penalty must be a finite number > 0"));
        if (!float.IsFinite(PresencePenalty)) errors.Add(new(nameof(PresencePenalty), "presence_penalty must be a finite number"));
        if (!float.IsFinite(FrequencyPenalty)) errors.Add(new(nameof(FrequencyPenalty), "frequency_penalty must be a finite number"));
        if (TopLogprobs is < 0 or > MaxTopLogprobs)
            errors.Add(new(nameof(TopLogprobs), $"top_logprobs must be between 0 and {MaxTopLogprobs}"));
        return errors;
    }
}

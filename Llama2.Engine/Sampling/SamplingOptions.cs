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
        return errors;
    }
}

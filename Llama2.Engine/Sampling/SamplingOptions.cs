namespace Llama2.Engine.Sampling;

/// <summary>How the next token is picked from the logits.</summary>
public sealed record SamplingOptions
{
    /// <summary>0 = greedy (argmax). Logits are divided by it before the softmax.</summary>
    public float Temperature { get; init; } = 1.0f;
    /// <summary>Nucleus sampling; ≤ 0 or ≥ 1 samples from the whole distribution, as run.c.</summary>
    public float TopP { get; init; } = 0.9f;
    /// <summary>Keep only the k most likely tokens; 0 = off.</summary>
    public int TopK { get; init; }
    /// <summary>Seed of run.c's generator.</summary>
    public ulong Seed { get; init; } = 1;
    /// <summary>Divides positive and multiplies negative logits of tokens already in the sequence; 1 = off.</summary>
    public float RepetitionPenalty { get; init; } = 1.0f;

    public bool IsGreedy => Temperature == 0f;

    /// <summary>Checks the options; returns the problem in words, or null when they are valid.</summary>
    public string? Validate() =>
        Temperature < 0 || float.IsNaN(Temperature) || float.IsInfinity(Temperature) ? "temperature must be a finite number ≥ 0"
        : float.IsNaN(TopP) ? "top_p must be a number"
        : TopK < 0 ? "top_k must be ≥ 0"
        : !(RepetitionPenalty > 0) || float.IsInfinity(RepetitionPenalty) ? "repetition_penalty must be a finite number > 0"
        : null;
}

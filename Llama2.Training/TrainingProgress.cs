using System.Globalization;

namespace Llama2.Training;

/// <summary>What a <see cref="TrainingProgress"/> report is about.</summary>
public enum TrainingEvent
{
    /// <summary>An optimiser step finished.</summary>
    Step,
    /// <summary>The validation loss (and a sample, after step 0) after a step.</summary>
    Evaluation,
    /// <summary>A checkpoint and the exported model were saved.</summary>
    Checkpoint,
}

/// <summary>
/// A report from a training run: after every step (step, loss, learning rate, tokens/s, time left), at each evaluation
/// (validation loss, sample) and at each checkpoint (its path). A struct, so reporting every step allocates nothing.
/// </summary>
public readonly record struct TrainingProgress(
    TrainingEvent Event,
    long Step,
    long TotalSteps,
    float Loss,
    float LearningRate,
    double TokensPerSecond,
    TimeSpan Elapsed,
    TimeSpan Remaining,
    float? ValidationLoss = null,
    string? Sample = null,
    string? Path = null)
{
    /// <summary>The share of the run's steps done, for a progress bar.</summary>
    public double Fraction => TotalSteps <= 0 ? 1 : (double)Step / TotalSteps;

    /// <summary>The line a console shows, e.g. "step 120/2000 | loss 3.2145 | lr 4.80e-04 | 11,904 tok/s | ETA 0:03:12".</summary>
    public override string ToString() => Event switch
    {
        TrainingEvent.Step => string.Create(CultureInfo.InvariantCulture,
            $"step {Step}/{TotalSteps} | loss {Loss:F4} | lr {LearningRate:0.00e+00} | {TokensPerSecond:N0} tok/s | ETA {Remaining:h\\:mm\\:ss}"),
        TrainingEvent.Evaluation => string.Create(CultureInfo.InvariantCulture,
            $"step {Step}:{(ValidationLoss is { } v ? $" validation loss {v:F4}" : "")}{(Sample is null ? "" : $"\nsample: {Sample}")}"),
        _ => $"step {Step}: saved {Path}",
    };
}

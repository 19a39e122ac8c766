namespace Llama2.Training.Tokenization;

/// <summary>How far tokenizer training has come: reading the text (bytes), then learning merges.</summary>
public readonly record struct TokenizerTrainingProgress(TokenizerTrainingStage Stage, long Done, long? Total)
{
    public double? Fraction => Total is > 0 ? Math.Clamp((double)Done / Total.Value, 0, 1) : null;

    public override string ToString() => Stage switch
    {
        TokenizerTrainingStage.Reading => Total is { } total
            ? $"reading text: {Done / 1e6:F1} of {total / 1e6:F1} MB"
            : $"reading text: {Done / 1e6:F1} MB",
        _ => $"learning merges: {Done} of {Total}",
    };
}

public enum TokenizerTrainingStage
{
    /// <summary>Counting words; <see cref="TokenizerTrainingProgress.Done"/> is bytes read.</summary>
    Reading,
    /// <summary>Learning merges; <see cref="TokenizerTrainingProgress.Done"/> is merges learned.</summary>
    Merging,
}

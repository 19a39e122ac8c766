namespace Llama2.Training.Data;

/// <summary>How <see cref="Pretokenizer"/> turns a corpus into token files.</summary>
public sealed record PretokenizeOptions
{
    /// <summary>The llama2.c tokenizer.bin to encode with (one the tokenizer trainer wrote, or any other).</summary>
    public required string TokenizerPath { get; init; }

    /// <summary>The folder that receives train.bin, val.bin and dataset.json (created if missing, files replaced).</summary>
    public required string OutputDirectory { get; init; }

    /// <summary>The share of documents held out for validation, 0 to below 1.</summary>
    public double ValidationFraction { get; init; } = 0.1;

    /// <summary>Chooses which documents are held out: the same seed and corpus give the same split.</summary>
    public int Seed { get; init; } = 1;

    internal void Validate()
    {
        if (!(ValidationFraction >= 0 && ValidationFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(ValidationFraction), ValidationFraction, "the validation fraction must be at least 0 and below 1");
        ArgumentException.ThrowIfNullOrWhiteSpace(TokenizerPath);
        ArgumentException.ThrowIfNullOrWhiteSpace(OutputDirectory);
    }
}

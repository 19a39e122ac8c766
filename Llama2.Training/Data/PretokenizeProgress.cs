namespace Llama2.Training.Data;

/// <summary>How far pretokenizing has come: bytes of the corpus read, documents and tokens written so far.</summary>
public readonly record struct PretokenizeProgress(long BytesRead, long TotalBytes, long Documents, long Tokens)
{
    public double? Fraction => TotalBytes > 0 ? Math.Clamp((double)BytesRead / TotalBytes, 0, 1) : null;

    public override string ToString() =>
        $"pretokenizing: {BytesRead / 1e6:F1} of {TotalBytes / 1e6:F1} MB, {Documents:N0} documents, {Tokens:N0} tokens";
}

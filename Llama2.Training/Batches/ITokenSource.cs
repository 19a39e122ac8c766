namespace Llama2.Training.Batches;

/// <summary>A stream of token ids to train or validate on (a pretokenized corpus: documents one after another, each opening with BOS = 1).</summary>
public interface ITokenSource
{
    /// <summary>How many tokens there are.</summary>
    long Count { get; }

    /// <summary>Tokens [start, start + destination.Length) into destination.</summary>
    void CopyTo(long start, Span<int> destination);
}

/// <summary>Tokens held in memory (tests, benchmarks, small corpora).</summary>
public sealed class TokenArray(int[] tokens) : ITokenSource
{
    public long Count => tokens.Length;

    public void CopyTo(long start, Span<int> destination) => tokens.AsSpan(checked((int)start), destination.Length).CopyTo(destination);
}

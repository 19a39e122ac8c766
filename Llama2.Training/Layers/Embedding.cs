using Llama2.Training.Diagnostics;
namespace Llama2.Training.Layers;

/// <summary>The token embedding: row t of x is row token[t] of the table (vocab × dim). Its backward adds each row's gradient back.</summary>
internal static class Embedding
{
    public static void Forward(Span<float> x, ReadOnlySpan<float> table, ReadOnlySpan<int> tokens, int dim)
    {
        using var timing = OperationTimes.Measure(Operation.Embedding);
        int vocab = table.Length / dim;
        for (int t = 0; t < tokens.Length; t++)
        {
            if ((uint)tokens[t] >= (uint)vocab) throw new ArgumentOutOfRangeException(nameof(tokens), tokens[t], $"a token must be in 0..{vocab - 1}");
            table.Slice(tokens[t] * dim, dim).CopyTo(x.Slice(t * dim, dim));
        }
    }

    /// <summary>dTable[token[t]] += dx[t], in token order (a token seen twice sums the same way every time).</summary>
    public static void Backward(Span<float> dTable, ReadOnlySpan<float> dx, ReadOnlySpan<int> tokens, int dim)
    {
        using var timing = OperationTimes.Measure(Operation.Embedding);
        for (int t = 0; t < tokens.Length; t++)
        {
            var row = dTable.Slice(tokens[t] * dim, dim);
            System.Numerics.Tensors.TensorPrimitives.Add(row, dx.Slice(t * dim, dim), row);
        }
    }
}

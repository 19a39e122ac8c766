using Llama2.Engine.Model;

namespace Llama2.Training.Model;

/// <summary>
/// The shape of a model to train, as llama2.c's model.py derives it: hidden_dim from multiple_of when not given, the
/// classifier tied to the embedding. The result is the engine's <see cref="ModelConfig"/>, what the exported
/// checkpoint's header holds.
/// </summary>
public static class ModelShape
{
    /// <summary>model.py's FeedForward: multiple_of · ⌈⌊2 · 4 · dim / 3⌋ / multiple_of⌉.</summary>
    public static int HiddenDim(int dim, int multipleOf)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dim);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(multipleOf);
        int hidden = 2 * (4 * dim) / 3;
        return multipleOf * ((hidden + multipleOf - 1) / multipleOf);
    }

    /// <summary>Checks the sizes and makes the shape; a bad combination throws <see cref="ArgumentException"/> saying which.</summary>
    public static ModelConfig Create(int dim, int layers, int heads, int? kvHeads, int vocabSize, int seqLen, int multipleOf = 32, int? hiddenDim = null)
    {
        int kv = kvHeads ?? heads;
        Require(dim > 0, $"dim must be positive (got {dim})");
        Require(layers > 0, $"the number of layers must be positive (got {layers})");
        Require(heads > 0 && dim % heads == 0, $"dim {dim} must be a multiple of the number of heads {heads}");
        Require(kv > 0 && heads % kv == 0, $"the number of heads {heads} must be a multiple of the number of key/value heads {kv}");
        Require(dim / heads % 2 == 0, $"the head size dim / heads = {dim / heads} must be even (rotary embeddings rotate pairs)");
        Require(vocabSize >= 3, $"the vocabulary must hold at least 3 tokens (unknown, BOS = 1, EOS = 2), not {vocabSize}");
        Require(seqLen >= 2, $"the sequence length must be at least 2 (got {seqLen})");
        Require(multipleOf > 0, $"multiple_of must be positive (got {multipleOf})");
        int hidden = hiddenDim ?? HiddenDim(dim, multipleOf);
        Require(hidden > 0, $"hidden_dim must be positive (got {hidden})");
        return new ModelConfig(dim, hidden, layers, heads, kv, vocabSize, seqLen, SharedClassifier: true);
    }

    static void Require(bool condition, string message)
    {
        if (!condition) throw new ArgumentException(message);
    }
}

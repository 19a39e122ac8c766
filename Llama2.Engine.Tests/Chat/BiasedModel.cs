namespace Llama2.Engine.Tests.Chat;

/// <summary>
/// A small random model (seq_len 256, vocabulary 300, byte-level tokenizer) that favours one token, for chats that
/// end replies (EOS) or sample BOS: every token's embedding has 1 in its first dimension, which survives the layers as
/// a large first component of the final normalized state, and the (unshared) classifier's row of the favoured token
/// has <c>weight</c> there, raising its logit by about 5 × weight at every position. Greedy, a weight of 0.25 or more
/// makes it the pick everywhere; sampled at temperature 1, 0.9 ends replies after a few tokens.
/// </summary>
public static class BiasedModel
{
    public static LlamaModel Load(TempDirectory dir, int token, float weight, int seed = 11)
    {
        var (checkpoint, tokenizer) = Write(dir, token, weight, seed);
        return LlamaModel.Load(checkpoint, tokenizer);
    }

    /// <summary>Writes the model and its byte-level tokenizer into <paramref name="dir"/>; returns both paths.</summary>
    public static (string Checkpoint, string Tokenizer) Write(TempDirectory dir, int token, float weight, int seed = 11)
    {
        var config = TestModels.Small(sharedClassifier: false, seqLen: 256);
        var (checkpoint, tokenizer) = TestModels.WriteSmallModel(dir, config, seed: seed);
        var layout = new CheckpointLayout(config, version: 0);
        using (var file = new FileStream(checkpoint, FileMode.Open, FileAccess.Write))
        using (var writer = new BinaryWriter(file))
        {
            for (int row = 0; row < config.VocabSize; row++)
            {
                file.Position = layout.OffsetOf(TensorKind.TokenEmbedding) + (long)row * config.Dim * sizeof(float);
                writer.Write(1f);
            }
            file.Position = layout.OffsetOf(TensorKind.Classifier) + (long)token * config.Dim * sizeof(float);
            writer.Write(weight);
        }
        return (checkpoint, tokenizer);
    }
}

namespace Llama2.Engine.Tests.TestData;

/// <summary>Small models and tokenizers the tests write themselves, in the real file formats.</summary>
public static class TestModels
{
    /// <summary>dim 32, hidden 64, 2 layers, 4 heads, 2 kv heads (grouped-query), vocab 300, seq_len 64.</summary>
    public static ModelConfig Small(bool sharedClassifier = true, int kvHeads = 2, int vocab = 300, int seqLen = 64) =>
        new(Dim: 32, HiddenDim: 64, NLayers: 2, NHeads: 4, NKvHeads: kvHeads, VocabSize: vocab, SeqLen: seqLen,
            SharedClassifier: sharedClassifier);

    /// <summary>
    /// A tokenizer.bin with the llama2.c layout: &lt;unk&gt;, &lt;s&gt;, &lt;/s&gt;, the 256 byte tokens, then
    /// <paramref name="pieces"/> (with their scores), then filler pieces up to <paramref name="vocabSize"/>.
    /// </summary>
    public static void WriteTokenizer(string path, int vocabSize, params (string Piece, float Score)[] pieces)
    {
        var all = new List<(byte[] Bytes, float Score)>
        {
            ("<unk>"u8.ToArray(), 0f), ("<s>"u8.ToArray(), 0f), ("</s>"u8.ToArray(), 0f),
        };
        for (int b = 0; b < 256; b++) all.Add((Encoding.ASCII.GetBytes($"<0x{b:X2}>"), 0f));
        foreach (var (piece, score) in pieces) all.Add((Encoding.UTF8.GetBytes(piece), score));
        for (int i = all.Count; i < vocabSize; i++) all.Add((Encoding.ASCII.GetBytes($"<filler{i}>"), -1e6f));

        using var writer = new BinaryWriter(File.Create(path));
        writer.Write(all.Max(p => p.Bytes.Length));
        foreach (var (bytes, score) in all.Take(vocabSize))
        {
            writer.Write(score);
            writer.Write(bytes.Length);
            writer.Write(bytes);
        }
    }

    /// <summary>A tokenizer for models whose own vocabulary is not available here: byte tokens and a few words.</summary>
    public static void WriteByteTokenizer(string path, int vocabSize) =>
        WriteTokenizer(path, vocabSize, (" ", -1f), ("a", -2f), ("b", -2f), (" a", -3f), ("ab", -4f), (" ab", -5f));

    /// <summary>Loads a checkpoint with a byte-level tokenizer written for it (for runs on token ids).</summary>
    public static LlamaModel LoadWithByteTokenizer(string checkpointPath)
    {
        int vocab;
        using (var checkpoint = Checkpoint.Open(checkpointPath)) vocab = checkpoint.Config.VocabSize;
        var tokenizerPath = Path.Combine(Path.GetTempPath(), $"llama2-tests-tokenizer-{Guid.NewGuid():N}.bin");
        try
        {
            WriteByteTokenizer(tokenizerPath, vocab);
            return LlamaModel.Load(checkpointPath, tokenizerPath);
        }
        finally
        {
            File.Delete(tokenizerPath);
        }
    }

    /// <summary>Writes a small random model and its tokenizer into <paramref name="dir"/>; returns both paths.</summary>
    public static (string Checkpoint, string Tokenizer) WriteSmallModel(TempDirectory dir, ModelConfig? config = null,
        int version = 0, int seed = 7)
    {
        config ??= Small();
        var checkpoint = dir.File($"model-v{version}-{seed}.bin");
        var tokenizer = dir.File("tokenizer.bin");
        CheckpointWriter.WriteRandom(checkpoint, config, version, seed);
        WriteByteTokenizer(tokenizer, config.VocabSize);
        return (checkpoint, tokenizer);
    }
}

using Llama2.Engine.Model;

namespace Llama2.Engine.Formats.Gguf;

/// <summary>
/// A Llama model in a GGUF file (general.architecture "llama"): the shape from the llama.* keys, the weights under
/// llama.cpp's names (token_embd, blk.N.attn_q, ..., output), and the vocabulary from tokenizer.ggml.* when it is a
/// SentencePiece ("llama") one. llama.cpp's converter undoes Hugging Face's query/key permutation, so the rows are in
/// Meta's interleaved rotary order, as in a .bin.
/// </summary>
public sealed class GgufModel : ExternalModel
{
    readonly GgufFile _file;

    GgufModel(GgufFile file) => _file = file;

    public override string FormatName => "GGUF";
    public override RotaryLayout QueryKeyLayout => RotaryLayout.Interleaved;
    public GgufFile File => _file;

    public override string TensorName(TensorKind kind, int layer) => kind switch
    {
        TensorKind.TokenEmbedding => "token_embd.weight",
        TensorKind.RmsFinal => "output_norm.weight",
        TensorKind.Classifier => Config.SharedClassifier ? "token_embd.weight" : "output.weight",
        TensorKind.RmsAtt => $"blk.{layer}.attn_norm.weight",
        TensorKind.Wq => $"blk.{layer}.attn_q.weight",
        TensorKind.Wk => $"blk.{layer}.attn_k.weight",
        TensorKind.Wv => $"blk.{layer}.attn_v.weight",
        TensorKind.Wo => $"blk.{layer}.attn_output.weight",
        TensorKind.RmsFfn => $"blk.{layer}.ffn_norm.weight",
        TensorKind.W1 => $"blk.{layer}.ffn_gate.weight",
        TensorKind.W2 => $"blk.{layer}.ffn_down.weight",
        TensorKind.W3 => $"blk.{layer}.ffn_up.weight",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    public override MappedTensor Tensor(TensorKind kind, int layer = 0) => _file.Tensor(TensorName(kind, layer));

    /// <summary>Opens and checks a GGUF Llama model; every problem is a <see cref="CheckpointFormatException"/> naming the file (and tensor or key).</summary>
    public static new GgufModel Open(string path)
    {
        var file = GgufFile.Open(path);
        try
        {
            return Read(file);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    static GgufModel Read(GgufFile file)
    {
        var meta = new MetadataReader(file);
        string architecture = meta.String("general.architecture") ?? throw meta.Missing("general.architecture");
        if (architecture != "llama")
            throw new CheckpointFormatException(file.Path, $"general.architecture is '{architecture}'; only Llama models ('llama') are read");
        if (meta.String("llama.rope.scaling.type") is { } scaling && scaling != "none")
            throw new CheckpointFormatException(file.Path, $"llama.rope.scaling.type is '{scaling}'; the engine computes plain rotary embeddings only");
        if (meta.Number("llama.rope.scale_linear") is { } scale && scale != 1)
            throw new CheckpointFormatException(file.Path, $"llama.rope.scale_linear is {scale}; the engine computes plain rotary embeddings only");
        if (!file.Contains("token_embd.weight")) file.Tensor("token_embd.weight"); // throws: not found

        int heads = meta.Int("llama.attention.head_count");
        int dim = meta.Int("llama.embedding_length");
        int vocab = (int)Math.Min(int.MaxValue, file.Tensor("token_embd.weight").Rows);
        var config = CheckConfig(file.Path, new ModelConfig(
            Dim: dim,
            HiddenDim: meta.Int("llama.feed_forward_length"),
            NLayers: meta.Int("llama.block_count"),
            NHeads: heads,
            NKvHeads: meta.IntOrNull("llama.attention.head_count_kv") ?? heads,
            VocabSize: vocab,
            SeqLen: meta.Int("llama.context_length"),
            SharedClassifier: !file.Contains("output.weight")),
            "llama.embedding_length", "llama.feed_forward_length", "llama.block_count", "llama.attention.head_count",
            "llama.attention.head_count_kv", "the rows of token_embd.weight", "llama.context_length");
        if (meta.IntOrNull("llama.rope.dimension_count") is { } rotary && rotary != config.HeadSize)
            throw new CheckpointFormatException(file.Path,
                $"llama.rope.dimension_count is {rotary}, not the head size {config.HeadSize}; the engine rotates whole heads");

        var (vocabulary, note) = ReadVocabulary(file, meta);
        var model = new GgufModel(file)
        {
            Path = file.Path,
            Config = config,
            RmsNormEps = (float)(meta.Number("llama.attention.layer_norm_rms_epsilon") ?? throw meta.Missing("llama.attention.layer_norm_rms_epsilon")),
            RopeTheta = (float)(meta.Number("llama.rope.freq_base") ?? 10000),
            Vocabulary = vocabulary,
            VocabularyNote = note,
        };
        model.CheckWeights();
        return model;
    }

    /// <summary>tokenizer.ggml.tokens, scores, token_type and the BOS/EOS ids, when the tokenizer is SentencePiece's ("llama").</summary>
    static (Vocabulary?, string?) ReadVocabulary(GgufFile file, MetadataReader meta)
    {
        string? model = meta.String("tokenizer.ggml.model");
        if (model is null) return (null, "the file has no tokenizer.ggml.model");
        if (meta.Array("tokenizer.ggml.tokens") is not string[] tokens)
            throw new CheckpointFormatException(file.Path, "tokenizer.ggml.tokens is missing or not an array of strings");
        float[] scores = meta.Array("tokenizer.ggml.scores") switch
        {
            null => new float[tokens.Length],
            float[] s when s.Length == tokens.Length => s,
            _ => throw new CheckpointFormatException(file.Path, $"tokenizer.ggml.scores is not {tokens.Length} float32 values, one per token"),
        };
        int[] types = meta.Array("tokenizer.ggml.token_type") switch
        {
            null => Enumerable.Repeat((int)PieceType.Normal, tokens.Length).ToArray(),
            int[] t when t.Length == tokens.Length => t,
            _ => throw new CheckpointFormatException(file.Path, $"tokenizer.ggml.token_type is not {tokens.Length} int32 values, one per token"),
        };
        var vocabulary = new Vocabulary(file.Path, tokens, scores, types.Select(t => (PieceType)t).ToArray(),
            meta.IntOrNull("tokenizer.ggml.bos_token_id") ?? 1, meta.IntOrNull("tokenizer.ggml.eos_token_id") ?? 2,
            mergesByScore: model == "llama");
        return (vocabulary, null);
    }

    /// <summary>Typed reads of the metadata, any integer type taken where a count is expected.</summary>
    sealed class MetadataReader(GgufFile file)
    {
        public CheckpointFormatException Missing(string key) => new(file.Path, $"metadata key {key} is missing");

        public string? String(string key) => file.Metadata.TryGetValue(key, out var v)
            ? v as string ?? throw new CheckpointFormatException(file.Path, $"metadata key {key} is {v.GetType().Name}, not a string")
            : null;

        public Array? Array(string key) => file.Metadata.TryGetValue(key, out var v)
            ? v as Array ?? throw new CheckpointFormatException(file.Path, $"metadata key {key} is not an array")
            : null;

        public int Int(string key) => IntOrNull(key) ?? throw Missing(key);

        public int? IntOrNull(string key)
        {
            if (!file.Metadata.TryGetValue(key, out var v)) return null;
            long? value = v switch
            {
                byte b => b, sbyte b => b, ushort s => s, short s => s, uint u => u, int i => i, long l => l,
                ulong u when u <= long.MaxValue => (long)u,
                _ => null,
            };
            return value is >= int.MinValue and <= int.MaxValue
                ? (int)value
                : throw new CheckpointFormatException(file.Path, $"metadata key {key} is {v}, not a whole number in range");
        }

        public double? Number(string key) => file.Metadata.TryGetValue(key, out var v)
            ? v switch
            {
                float f => f, double d => d, byte or sbyte or ushort or short or uint or int or ulong or long => Convert.ToDouble(v),
                _ => throw new CheckpointFormatException(file.Path, $"metadata key {key} is {v}, not a number"),
            }
            : null;
    }

    public override void Dispose() => _file.Dispose();
}

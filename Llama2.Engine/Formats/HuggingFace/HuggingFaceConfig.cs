using System.Text.Json;
using Llama2.Engine.Model;

namespace Llama2.Engine.Formats.HuggingFace;

/// <summary>
/// The fields of a Hugging Face Llama config.json that decide how the model computes, with transformers' LlamaConfig
/// defaults where a field is absent. <see cref="Read"/> refuses what the engine does not compute (another
/// architecture, rotary scaling, biases, another activation).
/// </summary>
public sealed record HuggingFaceConfig(
    int HiddenSize,
    int IntermediateSize,
    int NumHiddenLayers,
    int NumAttentionHeads,
    int NumKeyValueHeads,
    int VocabSize,
    int MaxPositionEmbeddings,
    float RmsNormEps,
    float RopeTheta,
    bool TieWordEmbeddings,
    string? TorchDtype)
{
    public ModelConfig ToModelConfig() => new(HiddenSize, IntermediateSize, NumHiddenLayers, NumAttentionHeads,
        NumKeyValueHeads, VocabSize, MaxPositionEmbeddings, TieWordEmbeddings);

    /// <summary>Reads config.json; a problem is a <see cref="CheckpointFormatException"/> naming the file and the field.</summary>
    public static HuggingFaceConfig Read(string path)
    {
        if (!File.Exists(path)) throw new CheckpointFormatException(path, "not found; a Hugging Face model folder has a config.json");
        using (var json = JsonFile.ReadObject(path))
        {
            var root = json.RootElement;

            string? modelType = String("model_type");
            if (modelType != "llama")
                throw new CheckpointFormatException(path,
                    $"model_type is {(modelType is null ? "missing" : $"'{modelType}'")}; only Llama models (model_type 'llama') are read");
            if (root.TryGetProperty("rope_scaling", out var scaling) && scaling.ValueKind != JsonValueKind.Null)
                throw new CheckpointFormatException(path, $"rope_scaling is {scaling.GetRawText()}; the engine computes plain rotary embeddings only");
            if (String("hidden_act") is { } act && act != "silu")
                throw new CheckpointFormatException(path, $"hidden_act is '{act}'; Llama's feed-forward uses silu");
            foreach (var bias in new[] { "attention_bias", "mlp_bias" })
                if (Bool(bias, false))
                    throw new CheckpointFormatException(path, $"{bias} is true; the engine's Llama has no biases");

            int hidden = Int("hidden_size"), heads = Int("num_attention_heads");
            if (root.TryGetProperty("head_dim", out var headDim) && headDim.ValueKind == JsonValueKind.Number
                && heads > 0 && headDim.GetInt32() != hidden / heads)
                throw new CheckpointFormatException(path,
                    $"head_dim {headDim.GetInt32()} is not hidden_size / num_attention_heads ({hidden / heads}); the engine needs them equal");

            return new HuggingFaceConfig(
                hidden,
                Int("intermediate_size"),
                Int("num_hidden_layers"),
                heads,
                root.TryGetProperty("num_key_value_heads", out var kv) && kv.ValueKind == JsonValueKind.Number ? Int("num_key_value_heads") : heads,
                Int("vocab_size"),
                Int("max_position_embeddings"),
                Float("rms_norm_eps", 1e-6f),
                Float("rope_theta", 10000f),
                Bool("tie_word_embeddings", false),
                String("torch_dtype") ?? String("dtype"));

            string? String(string name) =>
                root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

            int Int(string name)
            {
                if (!root.TryGetProperty(name, out var v))
                    throw new CheckpointFormatException(path, $"{name} is missing");
                if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int value))
                    throw new CheckpointFormatException(path, $"{name} is {v.GetRawText()}, not a whole number");
                return value;
            }

            float Float(string name, float absent)
            {
                if (!root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return absent;
                if (v.ValueKind != JsonValueKind.Number)
                    throw new CheckpointFormatException(path, $"{name} is {v.GetRawText()}, not a number");
                return (float)v.GetDouble();
            }

            bool Bool(string name, bool absent)
            {
                if (!root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return absent;
                return v.ValueKind switch
                {
                    JsonValueKind.True => true,
                    JsonValueKind.False => false,
                    _ => throw new CheckpointFormatException(path, $"{name} is {v.GetRawText()}, not true or false"),
                };
            }
        }
    }
}

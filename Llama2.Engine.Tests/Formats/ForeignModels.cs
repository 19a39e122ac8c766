using System.Runtime.InteropServices;
using System.Text.Json;
using Llama2.Engine.Formats;
using Llama2.Engine.Model;

namespace Llama2.Engine.Tests.Formats;

/// <summary>
/// Writes the weights of a llama2.c .bin in the other formats, as their own tools write them: a Hugging Face folder
/// (config.json, safetensors in fp32, fp16 or bf16, one file or shards with an index, q/k rows permuted as
/// transformers' convert_llama_weights_to_hf.py does, tokenizer.model) and a GGUF file (llama.cpp's names and keys,
/// Meta's row order, F32/F16/BF16/Q8_0 matrices with F32 norms). Also the .bin of the weights as a lossy format
/// rounds them, to compare a conversion against bit for bit.
/// </summary>
public static class ForeignModels
{
    /// <summary>What the stored type does to a weight, per tensor (Q8_0 works in blocks of 32 along a row).</summary>
    public enum Storage { F32, F16, BF16, Q8_0 }

    public static string SafeTensorsDType(Storage s) => s switch
    {
        Storage.F32 => "F32", Storage.F16 => "F16", Storage.BF16 => "BF16",
        _ => throw new ArgumentOutOfRangeException(nameof(s)),
    };

    static uint GgufType(Storage s) => s switch
    {
        Storage.F32 => GgufWriter.F32, Storage.F16 => GgufWriter.F16, Storage.BF16 => GgufWriter.BF16, _ => GgufWriter.Q8_0,
    };

    static bool IsMatrix(TensorKind kind) => kind is not (TensorKind.RmsAtt or TensorKind.RmsFfn or TensorKind.RmsFinal);

    /// <summary>One layer's tensor (or the one tensor) of a .bin, as fp32.</summary>
    public static float[] Read(Checkpoint bin, TensorKind kind, int layer = 0)
    {
        var shape = ExternalModel.ExpectedShape(bin.Config, kind);
        long count = shape.Aggregate(1L, (p, d) => p * d);
        long offset = bin.Layout.OffsetOf(kind) + (ExternalModel.IsPerLayer(kind) ? layer * count * 4 : 0);
        return MemoryMarshal.Cast<byte, float>(bin.Bytes(offset, checked((int)count * 4))).ToArray();
    }

    // ---- rounding as each type stores a value ----

    public static ushort ToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        return (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16); // round to nearest, ties to even (torch's .to(bfloat16))
    }

    public static float FromBFloat16(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    /// <summary>ggml's quantize_row_q8_0 per block of 32: d = max|x| / 127 stored as fp16, q = round(x / d).</summary>
    public static byte[] QuantizeQ8_0(float[] values)
    {
        var bytes = new byte[values.Length / 32 * 34];
        for (int block = 0; block < values.Length / 32; block++)
        {
            var x = values.AsSpan(block * 32, 32);
            float amax = 0;
            foreach (float v in x) amax = Math.Max(amax, Math.Abs(v));
            float d = amax / 127f, id = d != 0 ? 1f / d : 0f;
            BitConverter.TryWriteBytes(bytes.AsSpan(block * 34), (Half)d);
            for (int j = 0; j < 32; j++) bytes[block * 34 + 2 + j] = (byte)(sbyte)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero);
        }
        return bytes;
    }

    public static float[] DequantizeQ8_0(byte[] bytes)
    {
        var values = new float[bytes.Length / 34 * 32];
        for (int block = 0; block < bytes.Length / 34; block++)
        {
            float d = (float)BitConverter.ToHalf(bytes, block * 34);
            for (int j = 0; j < 32; j++) values[block * 32 + j] = (sbyte)bytes[block * 34 + 2 + j] * d;
        }
        return values;
    }

    /// <summary>The bytes of a tensor stored as <paramref name="storage"/>.</summary>
    public static byte[] Encode(float[] values, Storage storage) => storage switch
    {
        Storage.F32 => MemoryMarshal.AsBytes(values.AsSpan()).ToArray(),
        Storage.F16 => MemoryMarshal.AsBytes(values.Select(v => (Half)v).ToArray().AsSpan()).ToArray(),
        Storage.BF16 => MemoryMarshal.AsBytes(values.Select(ToBFloat16).ToArray().AsSpan()).ToArray(),
        Storage.Q8_0 => QuantizeQ8_0(values),
        _ => throw new ArgumentOutOfRangeException(nameof(storage)),
    };

    /// <summary>What reading the stored tensor back gives: the weights as the format rounds them.</summary>
    public static float[] Rounded(float[] values, Storage storage) => storage switch
    {
        Storage.F32 => values,
        Storage.F16 => values.Select(v => (float)(Half)v).ToArray(),
        Storage.BF16 => values.Select(v => FromBFloat16(ToBFloat16(v))).ToArray(),
        Storage.Q8_0 => DequantizeQ8_0(QuantizeQ8_0(values)),
        _ => throw new ArgumentOutOfRangeException(nameof(storage)),
    };

    /// <summary>
    /// A .bin with <paramref name="bin"/>'s weights as <paramref name="storage"/> rounds them (matrices only, when
    /// <paramref name="normsStayF32"/>: GGUF keeps norms in F32).
    /// </summary>
    public static void WriteRounded(Checkpoint bin, string path, Storage storage, bool normsStayF32, int version = 1)
    {
        var layout = new CheckpointLayout(bin.Config, version);
        var cache = new Dictionary<TensorKind, float[]>();
        CheckpointWriter.Write(path, layout, (kind, start, chunk) =>
        {
            if (!cache.TryGetValue(kind, out var all))
            {
                var s = normsStayF32 && !IsMatrix(kind) ? Storage.F32 : storage;
                int layers = ExternalModel.IsPerLayer(kind) ? bin.Config.NLayers : 1;
                all = kind is TensorKind.FreqCisReal or TensorKind.FreqCisImag
                    ? new float[layout.ElementCount(kind)]
                    : Enumerable.Range(0, layers).SelectMany(l => Rounded(Read(bin, kind, l), s)).ToArray();
                cache[kind] = all;
            }
            all.AsSpan((int)start, chunk.Length).CopyTo(chunk);
        });
    }

    // ---- Hugging Face ----

    /// <summary>
    /// Meta's interleaved rows in Hugging Face's order, as convert_llama_weights_to_hf.py's permute:
    /// w.view(heads, dim1 / heads / 2, 2, dim2).transpose(1, 2): half-split row j·head_size/2 + i of a head is
    /// interleaved row 2i + j.
    /// </summary>
    public static float[] PermuteForHuggingFace(float[] w, int heads, int columns)
    {
        int rows = w.Length / columns, headSize = rows / heads, half = headSize / 2;
        var permuted = new float[w.Length];
        for (int h = 0; h < heads; h++)
            for (int j = 0; j < 2; j++)
                for (int i = 0; i < half; i++)
                    w.AsSpan((h * headSize + 2 * i + j) * columns, columns)
                        .CopyTo(permuted.AsSpan((h * headSize + j * half + i) * columns, columns));
        return permuted;
    }

    public sealed record HuggingFaceOptions
    {
        public Storage Storage { get; init; } = Storage.F32;
        /// <summary>1: model.safetensors; more: model-0000N-of-0000M.safetensors with model.safetensors.index.json.</summary>
        public int Shards { get; init; } = 1;
        /// <summary>False writes q/k in Meta's order, as a converter that forgot the permutation would.</summary>
        public bool PermuteQueryKey { get; init; } = true;
        public float RmsNormEps { get; init; } = 1e-5f;
        public float RopeTheta { get; init; } = 10000f;
        /// <summary>Writes tokenizer.model with these pieces.</summary>
        public IReadOnlyList<(string Piece, float Score, PieceType Type)>? Pieces { get; init; }
    }

    static string HuggingFaceName(TensorKind kind, int layer) => kind switch
    {
        TensorKind.TokenEmbedding => "model.embed_tokens.weight",
        TensorKind.RmsFinal => "model.norm.weight",
        TensorKind.Classifier => "lm_head.weight",
        TensorKind.RmsAtt => $"model.layers.{layer}.input_layernorm.weight",
        TensorKind.Wq => $"model.layers.{layer}.self_attn.q_proj.weight",
        TensorKind.Wk => $"model.layers.{layer}.self_attn.k_proj.weight",
        TensorKind.Wv => $"model.layers.{layer}.self_attn.v_proj.weight",
        TensorKind.Wo => $"model.layers.{layer}.self_attn.o_proj.weight",
        TensorKind.RmsFfn => $"model.layers.{layer}.post_attention_layernorm.weight",
        TensorKind.W1 => $"model.layers.{layer}.mlp.gate_proj.weight",
        TensorKind.W2 => $"model.layers.{layer}.mlp.down_proj.weight",
        TensorKind.W3 => $"model.layers.{layer}.mlp.up_proj.weight",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>The tensors of a .bin in the order both tools write them (embedding, layer by layer, norm, classifier).</summary>
    public static IEnumerable<(TensorKind Kind, int Layer, long[] Shape, float[] Values)> Tensors(Checkpoint bin, bool permuteForHuggingFace)
    {
        var c = bin.Config;
        yield return (TensorKind.TokenEmbedding, 0, ExternalModel.ExpectedShape(c, TensorKind.TokenEmbedding), Read(bin, TensorKind.TokenEmbedding));
        for (int layer = 0; layer < c.NLayers; layer++)
            foreach (var kind in new[] { TensorKind.RmsAtt, TensorKind.Wq, TensorKind.Wk, TensorKind.Wv, TensorKind.Wo, TensorKind.RmsFfn, TensorKind.W1, TensorKind.W2, TensorKind.W3 })
            {
                var values = Read(bin, kind, layer);
                if (permuteForHuggingFace && kind == TensorKind.Wq) values = PermuteForHuggingFace(values, c.NHeads, c.Dim);
                if (permuteForHuggingFace && kind == TensorKind.Wk) values = PermuteForHuggingFace(values, c.NKvHeads, c.Dim);
                yield return (kind, layer, ExternalModel.ExpectedShape(c, kind), values);
            }
        yield return (TensorKind.RmsFinal, 0, [c.Dim], Read(bin, TensorKind.RmsFinal));
        if (!c.SharedClassifier)
            yield return (TensorKind.Classifier, 0, ExternalModel.ExpectedShape(c, TensorKind.Classifier), Read(bin, TensorKind.Classifier));
    }

    public static string ConfigJson(ModelConfig c, HuggingFaceOptions options) => JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["architectures"] = new[] { "LlamaForCausalLM" },
        ["model_type"] = "llama",
        ["hidden_act"] = "silu",
        ["hidden_size"] = c.Dim,
        ["intermediate_size"] = c.HiddenDim,
        ["num_hidden_layers"] = c.NLayers,
        ["num_attention_heads"] = c.NHeads,
        ["num_key_value_heads"] = c.NKvHeads,
        ["vocab_size"] = c.VocabSize,
        ["max_position_embeddings"] = c.SeqLen,
        ["rms_norm_eps"] = options.RmsNormEps,
        ["rope_theta"] = options.RopeTheta,
        ["rope_scaling"] = null!,
        ["tie_word_embeddings"] = c.SharedClassifier,
        ["torch_dtype"] = options.Storage switch { Storage.F16 => "float16", Storage.BF16 => "bfloat16", _ => "float32" },
        ["bos_token_id"] = 1,
        ["eos_token_id"] = 2,
    });

    /// <summary>Writes <paramref name="bin"/> as a Hugging Face folder; returns the folder.</summary>
    public static string WriteHuggingFace(Checkpoint bin, string folder, HuggingFaceOptions? options = null)
    {
        options ??= new HuggingFaceOptions();
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "config.json"), ConfigJson(bin.Config, options));
        var tensors = Tensors(bin, options.PermuteQueryKey)
            .Select(t => (Name: HuggingFaceName(t.Kind, t.Layer), t.Shape, t.Values)).ToList();
        string dtype = SafeTensorsDType(options.Storage);
        if (options.Shards == 1)
        {
            var writer = new SafeTensorsWriter();
            foreach (var t in tensors) writer.Add(t.Name, dtype, t.Shape, Encode(t.Values, options.Storage));
            writer.Write(Path.Combine(folder, "model.safetensors"));
        }
        else
        {
            var weightMap = new Dictionary<string, string>();
            int perShard = (tensors.Count + options.Shards - 1) / options.Shards;
            for (int shard = 0; shard < options.Shards; shard++)
            {
                string file = $"model-{shard + 1:D5}-of-{options.Shards:D5}.safetensors";
                var writer = new SafeTensorsWriter();
                foreach (var t in tensors.Skip(shard * perShard).Take(perShard))
                {
                    writer.Add(t.Name, dtype, t.Shape, Encode(t.Values, options.Storage));
                    weightMap[t.Name] = file;
                }
                writer.Write(Path.Combine(folder, file));
            }
            File.WriteAllText(Path.Combine(folder, "model.safetensors.index.json"), JsonSerializer.Serialize(new
            {
                metadata = new { total_size = tensors.Sum(t => Encode(t.Values, options.Storage).LongLength) },
                weight_map = weightMap,
            }));
        }
        if (options.Pieces is { } pieces) SentencePieceWriter.Write(Path.Combine(folder, "tokenizer.model"), pieces);
        return folder;
    }

    // ---- GGUF ----

    public sealed record GgufOptions
    {
        public Storage Storage { get; init; } = Storage.F32;
        public float RmsNormEps { get; init; } = 1e-5f;
        public float RopeTheta { get; init; } = 10000f;
        public IReadOnlyList<(string Piece, float Score, PieceType Type)>? Pieces { get; init; }
        /// <summary>Changes the writer before it writes (extra keys, a replaced tensor).</summary>
        public Action<GgufWriter>? Customize { get; init; }
    }

    static string GgufName(TensorKind kind, int layer) => kind switch
    {
        TensorKind.TokenEmbedding => "token_embd.weight",
        TensorKind.RmsFinal => "output_norm.weight",
        TensorKind.Classifier => "output.weight",
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

    /// <summary>
    /// Writes <paramref name="bin"/> as llama.cpp's convert_hf_to_gguf.py writes a Llama: the llama.* keys, the
    /// vocabulary, norms in F32 and matrices in the chosen type, q/k in Meta's order (llama.cpp permutes Hugging Face's
    /// rows back, so they are the .bin's own).
    /// </summary>
    public static string WriteGguf(Checkpoint bin, string path, GgufOptions? options = null)
    {
        options ??= new GgufOptions();
        var c = bin.Config;
        var writer = new GgufWriter()
            .String("general.architecture", "llama")
            .String("general.name", "test model")
            .UInt32("llama.context_length", (uint)c.SeqLen)
            .UInt32("llama.embedding_length", (uint)c.Dim)
            .UInt32("llama.block_count", (uint)c.NLayers)
            .UInt32("llama.feed_forward_length", (uint)c.HiddenDim)
            .UInt32("llama.rope.dimension_count", (uint)c.HeadSize)
            .UInt32("llama.attention.head_count", (uint)c.NHeads)
            .UInt32("llama.attention.head_count_kv", (uint)c.NKvHeads)
            .Float32("llama.attention.layer_norm_rms_epsilon", options.RmsNormEps)
            .Float32("llama.rope.freq_base", options.RopeTheta)
            .UInt32("general.file_type", options.Storage switch { Storage.F32 => 0u, Storage.F16 => 1u, Storage.Q8_0 => 7u, _ => 32u });
        if (options.Storage == Storage.Q8_0) writer.UInt32("general.quantization_version", 2);
        if (options.Pieces is { } pieces)
            writer.String("tokenizer.ggml.model", "llama")
                .Strings("tokenizer.ggml.tokens", pieces.Select(p => p.Piece).ToList())
                .Floats("tokenizer.ggml.scores", pieces.Select(p => p.Score).ToList())
                .Ints("tokenizer.ggml.token_type", pieces.Select(p => (int)p.Type).ToList())
                .UInt32("tokenizer.ggml.bos_token_id", 1)
                .UInt32("tokenizer.ggml.eos_token_id", 2)
                .UInt32("tokenizer.ggml.unknown_token_id", 0);

        foreach (var (kind, layer, shape, values) in Tensors(bin, permuteForHuggingFace: false))
        {
            var storage = IsMatrix(kind) ? options.Storage : Storage.F32;
            writer.Tensor(GgufName(kind, layer), shape, GgufType(storage), Encode(values, storage));
        }
        options.Customize?.Invoke(writer);
        writer.Write(path);
        return path;
    }
}

using System.Text.Json;
using Llama2.Engine.Formats.SafeTensors;
using Llama2.Engine.Formats.SentencePiece;
using Llama2.Engine.Model;

namespace Llama2.Engine.Formats.HuggingFace;

/// <summary>
/// A Hugging Face Llama folder: config.json, the weights in model.safetensors or in shards listed by
/// model.safetensors.index.json (fp32, fp16 or bf16, each shard memory-mapped), and tokenizer.model when it is there.
/// Its query and key rows are in Hugging Face's half-split rotary order (<see cref="RotaryLayout.HalfSplit"/>).
/// </summary>
public sealed class HuggingFaceModel : ExternalModel
{
    public const string ConfigFile = "config.json", SingleFile = "model.safetensors", IndexFile = "model.safetensors.index.json",
        TokenizerFile = "tokenizer.model";

    readonly List<SafeTensorsFile> _shards;
    readonly Dictionary<string, SafeTensorsFile> _shardOf;
    readonly string _weightsListing;

    HuggingFaceModel(List<SafeTensorsFile> shards, Dictionary<string, SafeTensorsFile> shardOf, string weightsListing)
    {
        _shards = shards;
        _shardOf = shardOf;
        _weightsListing = weightsListing;
    }

    public override string FormatName => "Hugging Face (safetensors)";
    public override RotaryLayout QueryKeyLayout => RotaryLayout.HalfSplit;
    public required HuggingFaceConfig HuggingFaceConfig { get; init; }
    /// <summary>The safetensors files, in the order they are listed.</summary>
    public IReadOnlyList<string> ShardPaths => _shards.Select(s => s.Path).ToList();

    public override string TensorName(TensorKind kind, int layer) => kind switch
    {
        TensorKind.TokenEmbedding => "model.embed_tokens.weight",
        TensorKind.RmsFinal => "model.norm.weight",
        TensorKind.Classifier => Config.SharedClassifier ? "model.embed_tokens.weight" : "lm_head.weight",
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

    public override MappedTensor Tensor(TensorKind kind, int layer = 0)
    {
        string name = TensorName(kind, layer);
        if (!_shardOf.TryGetValue(name, out var shard))
            throw new CheckpointFormatException(_weightsListing, $"tensor {name} not found");
        return shard.Tensor(name);
    }

    /// <summary>Opens and checks a folder; every problem is a <see cref="CheckpointFormatException"/> naming the file (and tensor).</summary>
    public static new HuggingFaceModel Open(string folder)
    {
        var config = HuggingFaceConfig.Read(System.IO.Path.Combine(folder, ConfigFile));
        var modelConfig = CheckConfig(System.IO.Path.Combine(folder, ConfigFile), config.ToModelConfig(),
            "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
            "vocab_size", "max_position_embeddings");

        var (shards, shardOf, listing) = OpenShards(folder);
        try
        {
            string tokenizerPath = System.IO.Path.Combine(folder, TokenizerFile);
            var model = new HuggingFaceModel(shards, shardOf, listing)
            {
                Path = folder,
                Config = modelConfig,
                HuggingFaceConfig = config,
                RmsNormEps = config.RmsNormEps,
                RopeTheta = config.RopeTheta,
                Vocabulary = File.Exists(tokenizerPath) ? SentencePieceModel.Read(tokenizerPath) : null,
                VocabularyNote = File.Exists(tokenizerPath) ? null : $"the folder has no {TokenizerFile}",
            };
            model.CheckWeights();
            return model;
        }
        catch
        {
            foreach (var shard in shards) shard.Dispose();
            throw;
        }
    }

    /// <summary>The shards and which holds each tensor: from the index when there is one, else the one model.safetensors.</summary>
    static (List<SafeTensorsFile>, Dictionary<string, SafeTensorsFile>, string Listing) OpenShards(string folder)
    {
        string indexPath = System.IO.Path.Combine(folder, IndexFile), singlePath = System.IO.Path.Combine(folder, SingleFile);
        var shards = new List<SafeTensorsFile>();
        var shardOf = new Dictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
        try
        {
            if (File.Exists(indexPath))
            {
                var byFile = new Dictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
                foreach (var (tensor, file) in ReadWeightMap(indexPath))
                {
                    if (!byFile.TryGetValue(file, out var shard))
                    {
                        string shardPath = System.IO.Path.Combine(folder, file);
                        if (!File.Exists(shardPath))
                            throw new CheckpointFormatException(shardPath, $"not found; {IndexFile} lists it for tensor {tensor}");
                        byFile[file] = shard = SafeTensorsFile.Open(shardPath);
                        shards.Add(shard);
                    }
                    if (!shard.Contains(tensor))
                        throw new CheckpointFormatException(shard.Path, $"tensor {tensor} not found, though {IndexFile} lists it here");
                    shardOf[tensor] = shard;
                }
                return (shards, shardOf, indexPath);
            }
            if (File.Exists(singlePath))
            {
                var single = SafeTensorsFile.Open(singlePath);
                shards.Add(single);
                foreach (var name in single.TensorNames) shardOf[name] = single;
                return (shards, shardOf, singlePath);
            }
        }
        catch
        {
            foreach (var shard in shards) shard.Dispose();
            throw;
        }
        bool pytorch = Directory.EnumerateFiles(folder, "pytorch_model*.bin").Any();
        throw new CheckpointFormatException(folder, pytorch
            ? $"it has PyTorch .bin weights but no {SingleFile} or {IndexFile}; only safetensors are read (most Hugging Face repos have both)"
            : $"no {SingleFile} or {IndexFile}: not a Hugging Face model folder with safetensors weights");
    }

    /// <summary>model.safetensors.index.json's weight_map: each tensor and the shard (a file in the folder) that holds it.</summary>
    public static IReadOnlyList<(string Tensor, string File)> ReadWeightMap(string indexPath)
    {
        using (var json = JsonFile.ReadObject(indexPath))
        {
            if (!json.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw new CheckpointFormatException(indexPath, "no weight_map object");
            var entries = new List<(string, string)>();
            foreach (var entry in map.EnumerateObject())
            {
                if (entry.Value.ValueKind != JsonValueKind.String)
                    throw new CheckpointFormatException(indexPath, $"weight_map gives {entry.Value.GetRawText()} for tensor {entry.Name}, not a file name");
                string file = entry.Value.GetString()!;
                if (file.Length == 0 || System.IO.Path.IsPathRooted(file) || file.Split('/', '\\').Contains(".."))
                    throw new CheckpointFormatException(indexPath, $"weight_map gives '{file}' for tensor {entry.Name}, not a file in the folder");
                entries.Add((entry.Name, file));
            }
            return entries;
        }
    }

    public override void Dispose()
    {
        foreach (var shard in _shards) shard.Dispose();
    }
}

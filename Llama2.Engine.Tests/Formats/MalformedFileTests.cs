using System.Buffers.Binary;
using System.Text.Json.Nodes;
using Llama2.Engine.Formats;
using static Llama2.Engine.Tests.Formats.ForeignModels;

namespace Llama2.Engine.Tests.Formats;

/// <summary>
/// Every malformed model is one <see cref="CheckpointFormatException"/> whose message names the file and, where one is
/// at fault, the tensor or key — never a crash, an out-of-memory or a half-read model.
/// </summary>
public sealed class MalformedFileTests : IDisposable
{
    readonly TempDirectory _dir = new();
    readonly string _bin;

    public MalformedFileTests()
    {
        _bin = _dir.File("original.bin");
        CheckpointWriter.WriteRandom(_bin, TestModels.Small(sharedClassifier: false), version: 1, seed: 5);
    }

    public void Dispose() => _dir.Dispose();

    string HuggingFace(HuggingFaceOptions? options = null)
    {
        using var bin = Checkpoint.Open(_bin);
        return WriteHuggingFace(bin, _dir.File($"hf-{Guid.NewGuid():N}"), options);
    }

    string Gguf(Action<GgufWriter>? customize = null)
    {
        using var bin = Checkpoint.Open(_bin);
        return WriteGguf(bin, _dir.File($"m-{Guid.NewGuid():N}.gguf"), new GgufOptions { Customize = customize });
    }

    static CheckpointFormatException Refused(string path, string file, params string[] mentions)
    {
        var e = Assert.Throws<CheckpointFormatException>(() => ExternalModel.Open(path).Dispose());
        Assert.Equal(file, e.FilePath);
        Assert.StartsWith(file + ": ", e.Message);
        foreach (var m in mentions) Assert.Contains(m, e.Message);
        return e;
    }

    /// <summary>Rewrites a safetensors file's JSON header, keeping its data.</summary>
    static void EditHeader(string path, Action<JsonObject> edit)
    {
        var bytes = File.ReadAllBytes(path);
        int length = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        var header = JsonNode.Parse(bytes.AsSpan(8, length))!.AsObject();
        edit(header);
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        using var stream = File.Create(path);
        stream.Write(BitConverter.GetBytes((ulong)json.Length));
        stream.Write(json);
        stream.Write(bytes.AsSpan(8 + length));
    }

    // ---- Hugging Face folders ----

    [Fact]
    public void Truncated_shard_names_the_shard_and_the_tensor_past_its_end()
    {
        var folder = HuggingFace(new HuggingFaceOptions { Shards = 2 });
        var shard = Path.Combine(folder, "model-00002-of-00002.safetensors");
        using (var f = File.OpenWrite(shard)) f.SetLength(f.Length - 10);
        Refused(folder, shard, "tensor lm_head.weight", "truncated");
    }

    [Fact]
    public void Missing_tensor_names_the_file_and_the_tensor()
    {
        var folder = HuggingFace();
        var file = Path.Combine(folder, "model.safetensors");
        EditHeader(file, h => h.Remove("model.layers.1.mlp.up_proj.weight"));
        Refused(folder, file, "tensor model.layers.1.mlp.up_proj.weight not found");
    }

    [Fact]
    public void Tensor_missing_from_the_index_names_the_index()
    {
        var folder = HuggingFace(new HuggingFaceOptions { Shards = 3 });
        var index = Path.Combine(folder, "model.safetensors.index.json");
        var json = JsonNode.Parse(File.ReadAllText(index))!;
        json["weight_map"]!.AsObject().Remove("model.norm.weight");
        File.WriteAllText(index, json.ToJsonString());
        Refused(folder, index, "tensor model.norm.weight not found");
    }

    [Fact]
    public void Tensor_the_index_puts_in_a_shard_that_lacks_it_names_the_shard()
    {
        var folder = HuggingFace(new HuggingFaceOptions { Shards = 2 });
        var shard = Path.Combine(folder, "model-00001-of-00002.safetensors");
        EditHeader(shard, h => h.Remove("model.embed_tokens.weight"));
        Refused(folder, shard, "tensor model.embed_tokens.weight not found", "model.safetensors.index.json lists it");
    }

    [Fact]
    public void Missing_shard_names_the_shard()
    {
        var folder = HuggingFace(new HuggingFaceOptions { Shards = 2 });
        var shard = Path.Combine(folder, "model-00002-of-00002.safetensors");
        File.Delete(shard);
        Refused(folder, shard, "not found");
    }

    [Fact]
    public void Wrong_dtype_names_the_file_the_tensor_and_the_dtype()
    {
        var folder = HuggingFace();
        var file = Path.Combine(folder, "model.safetensors");
        EditHeader(file, h =>
        {
            var entry = h["model.layers.0.self_attn.v_proj.weight"]!.AsObject();
            entry["dtype"] = "F64";
            entry["shape"] = new JsonArray(16, 16); // the same bytes as fp64
        });
        Refused(folder, file, "tensor model.layers.0.self_attn.v_proj.weight", "dtype F64", "F32, F16, BF16");
    }

    [Fact]
    public void Shape_that_disagrees_with_the_bytes_names_the_tensor()
    {
        var folder = HuggingFace();
        var file = Path.Combine(folder, "model.safetensors");
        EditHeader(file, h => h["model.norm.weight"]!["shape"] = new JsonArray(33));
        Refused(folder, file, "tensor model.norm.weight", "needs 132 bytes but data_offsets give 128");
    }

    [Fact]
    public void Shape_that_disagrees_with_the_config_names_the_tensor()
    {
        var folder = HuggingFace();
        var file = Path.Combine(folder, "model.safetensors");
        EditHeader(file, h => h["model.layers.1.self_attn.o_proj.weight"]!["shape"] = new JsonArray(16, 64));
        Refused(folder, file, "tensor model.layers.1.self_attn.o_proj.weight has shape [16, 64]", "[32, 32]");
    }

    [Fact]
    public void Header_length_beyond_the_file()
    {
        var folder = HuggingFace();
        var file = Path.Combine(folder, "model.safetensors");
        var bytes = File.ReadAllBytes(file);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)bytes.Length);
        File.WriteAllBytes(file, bytes);
        Refused(folder, file, $"header length {bytes.Length} is beyond the file's {bytes.Length} bytes");
    }

    [Fact]
    public void Header_that_is_not_json()
    {
        var folder = HuggingFace();
        var file = Path.Combine(folder, "model.safetensors");
        var bytes = File.ReadAllBytes(file);
        bytes[8] = (byte)'#';
        File.WriteAllBytes(file, bytes);
        Refused(folder, file, "not valid JSON");
    }

    [Fact]
    public void Folder_without_weights_says_what_it_needs()
    {
        var folder = HuggingFace();
        File.Move(Path.Combine(folder, "model.safetensors"), Path.Combine(folder, "pytorch_model.bin"));
        Refused(folder, folder, "PyTorch .bin weights", "only safetensors");
    }

    [Theory]
    [InlineData("model_type", "\"mistral\"", "model_type is 'mistral'")]
    [InlineData("rope_scaling", "{\"type\": \"linear\", \"factor\": 2.0}", "rope_scaling")]
    [InlineData("hidden_act", "\"gelu\"", "hidden_act is 'gelu'")]
    [InlineData("attention_bias", "true", "attention_bias is true")]
    [InlineData("num_attention_heads", "5", "hidden_size 32 is not divisible by num_attention_heads 5")]
    [InlineData("num_key_value_heads", "3", "num_attention_heads 4 is not divisible by num_key_value_heads 3")]
    [InlineData("hidden_size", "\"32\"", "hidden_size is \"32\", not a whole number")]
    [InlineData("vocab_size", null, "vocab_size is missing")]
    [InlineData("head_dim", "16", "head_dim 16")]
    public void Config_the_engine_cannot_compute_is_refused_naming_the_field(string field, string? json, string message)
    {
        var folder = HuggingFace();
        var config = Path.Combine(folder, "config.json");
        var node = JsonNode.Parse(File.ReadAllText(config))!.AsObject();
        if (json is null) node.Remove(field);
        else node[field] = JsonNode.Parse(json);
        File.WriteAllText(config, node.ToJsonString());
        Refused(folder, config, message);
    }

    [Fact]
    public void Folder_without_config()
    {
        var folder = HuggingFace();
        File.Delete(Path.Combine(folder, "config.json"));
        Refused(folder, Path.Combine(folder, "config.json"), "not found");
    }

    [Fact]
    public void Malformed_tokenizer_model_names_it()
    {
        var folder = HuggingFace();
        var tokenizer = Path.Combine(folder, "tokenizer.model");
        File.WriteAllBytes(tokenizer, [0x0A, 0xFF, 0xFF, 0xFF, 0x0F]); // a piece of 4 GB in a 5-byte file
        Refused(folder, tokenizer, "not a SentencePiece model");
    }

    // ---- GGUF ----

    [Fact]
    public void Unknown_gguf_type_names_the_file_and_the_tensor()
    {
        var path = Gguf(w => w.RetypeTensor("blk.1.attn_k.weight", 99));
        Refused(path, path, "tensor blk.1.attn_k.weight has ggml type 99", "not a type ggml defines");
    }

    [Fact]
    public void Gguf_type_not_read_here_is_named()
    {
        var path = Gguf(w => w.RetypeTensor("blk.0.ffn_down.weight", 12));
        Refused(path, path, "tensor blk.0.ffn_down.weight has ggml type Q4_K (12)", "F32, F16, BF16 and Q8_0");
    }

    [Fact]
    public void Truncated_gguf_names_the_tensor_past_its_end()
    {
        var path = Gguf();
        using (var f = File.OpenWrite(path)) f.SetLength(f.Length - 40);
        Refused(path, path, "tensor output.weight ends at byte", "truncated");
    }

    [Fact]
    public void Gguf_cut_inside_its_header()
    {
        var path = Gguf();
        using (var f = File.OpenWrite(path)) f.SetLength(300);
        Refused(path, path, "runs past the end of the file", "truncated or corrupt");
    }

    [Fact]
    public void Gguf_missing_a_tensor_names_it()
    {
        var path = Gguf(w => w.RemoveTensor("blk.1.ffn_up.weight"));
        Refused(path, path, "tensor blk.1.ffn_up.weight not found");
    }

    [Fact]
    public void Gguf_missing_a_key_names_it()
    {
        var path = Gguf(w => w.RemoveKey("llama.feed_forward_length"));
        Refused(path, path, "metadata key llama.feed_forward_length is missing");
    }

    [Fact]
    public void Gguf_of_another_architecture_is_refused()
    {
        var path = Gguf(w => w.RemoveKey("general.architecture").String("general.architecture", "gpt2"));
        Refused(path, path, "general.architecture is 'gpt2'");
    }

    [Fact]
    public void Gguf_array_longer_than_the_file_is_refused_without_allocating_it()
    {
        var value = new byte[4 + 4 + 8];
        BinaryPrimitives.WriteUInt32LittleEndian(value, 9); // array
        BinaryPrimitives.WriteUInt32LittleEndian(value.AsSpan(4), 8); // of strings
        BinaryPrimitives.WriteUInt64LittleEndian(value.AsSpan(8), 1UL << 60);
        var path = Gguf(w => w.Raw("tokenizer.ggml.merges", value));
        Refused(path, path, "metadata key tokenizer.ggml.merges is an array of 1152921504606846976 elements");
    }

    [Fact]
    public void Gguf_metadata_of_an_undefined_type_is_refused()
    {
        var path = Gguf(w => w.Raw("general.odd", [13, 0, 0, 0]));
        Refused(path, path, "metadata key general.odd has value type 13");
    }

    [Theory]
    [InlineData(1u, "GGUF version 1")]
    [InlineData(0x03000000u, "big-endian")]
    public void Gguf_version_not_read_here(uint version, string message)
    {
        var path = _dir.File($"v{version}.gguf");
        new GgufWriter { Version = version }.String("general.architecture", "llama").Write(path);
        Refused(path, path, message);
    }

    [Fact]
    public void A_bin_or_a_stray_file_is_not_taken_for_another_format()
    {
        Refused(_bin, _bin, "neither a GGUF file", "nor a Hugging Face model folder");
        var missing = _dir.File("nothing-here");
        Refused(missing, missing, "not found");
    }
}

using Llama2.Engine.Formats;
using Llama2.Engine.Model;
using Llama2.Engine.Tests.Formats;
using static Llama2.Engine.Tests.Formats.ForeignModels;

namespace Llama2.Server.Tests.Model;

/// <summary>
/// Model:CheckpointPath naming a Hugging Face folder or a GGUF file: served directly, with the model's own vocabulary
/// when no tokenizer is named, said so by /info, and generating what the .bin of the same (rounded) weights generates.
/// </summary>
public sealed class ForeignModelServingTests : IDisposable
{
    const string Request = """{"inputs": "Once upon a time", "parameters": {"max_new_tokens": 20, "do_sample": false}}""";
    static readonly ModelConfig Config = new(Dim: 64, HiddenDim: 128, NLayers: 2, NHeads: 4, NKvHeads: 2, VocabSize: 300, SeqLen: 64,
        SharedClassifier: false);

    readonly TempDirectory _dir = new();
    readonly string _original;
    readonly List<(string Piece, float Score, PieceType Type)> _pieces =
        SentencePieceWriter.LlamaStylePieces(300, "▁Once", "▁upon", "▁a", "▁time", "▁the");

    public ForeignModelServingTests()
    {
        _original = _dir.File("original.bin");
        CheckpointWriter.WriteRandom(_original, Config, version: 1, seed: 5);
    }

    public void Dispose() => _dir.Dispose();

    /// <summary>The .bin of the weights as <paramref name="storage"/> rounds them, and the tokenizer.bin of the vocabulary.</summary>
    (string Checkpoint, string Tokenizer) RoundedBin(Storage storage, bool normsStayF32)
    {
        var path = _dir.File($"rounded-{storage}-{normsStayF32}.bin");
        using (var bin = Checkpoint.Open(_original)) WriteRounded(bin, path, storage, normsStayF32);
        var tokenizer = _dir.File("tokenizer.bin");
        using (var folder = ExternalModel.Open(HuggingFaceFolder(storage))) File.WriteAllBytes(tokenizer, folder.Vocabulary!.ToTokenizerBin());
        return (path, tokenizer);
    }

    string HuggingFaceFolder(Storage storage)
    {
        var folder = Path.Combine(_dir.Path, $"Llama-test-{storage}-hf");
        if (Directory.Exists(folder)) return folder;
        using var bin = Checkpoint.Open(_original);
        return WriteHuggingFace(bin, folder, new HuggingFaceOptions { Storage = storage, Shards = 2, Pieces = _pieces });
    }

    string GgufFile(Storage storage)
    {
        using var bin = Checkpoint.Open(_original);
        return WriteGguf(bin, _dir.File($"model-{storage}.gguf"), new GgufOptions { Storage = storage, Pieces = _pieces });
    }

    static async Task<(JsonElement Info, string Text)> ServeAsync(params (string Key, string? Value)[] settings)
    {
        await using var server = new ServerFactory(new Dictionary<string, string?>(settings.Select(s => KeyValuePair.Create(s.Key, s.Value))));
        var client = await server.CreateReadyClientAsync();
        var info = await (await client.GetAsync("/info", TestToken)).ReadJsonAsync();
        var text = (await (await client.PostJsonAsync("/generate", Request)).ReadJsonAsync()).GetProperty("generated_text").GetString()!;
        return (info, text);
    }

    static void AssertInfo(JsonElement info, string format, string dtype, string quantization)
    {
        Assert.Equal(format, info.GetProperty("format").GetString());
        Assert.Equal(dtype, info.GetProperty("model_dtype").GetString());
        Assert.Equal(quantization, info.GetProperty("quantization").GetString());
    }

    [Theory]
    [InlineData(Storage.BF16)]
    [InlineData(Storage.F16)]
    public async Task A_Hugging_Face_folder_alone_is_served_with_its_own_tokenizer_and_generates_what_the_bin_of_its_weights_does(Storage storage)
    {
        var folder = HuggingFaceFolder(storage);
        var (info, text) = await ServeAsync(("Model:CheckpointPath", folder));
        AssertInfo(info, "safetensors", storage == Storage.BF16 ? "bfloat16" : "float16", "none");
        Assert.Equal(Path.GetFileName(folder), info.GetProperty("model_id").GetString());

        var (bin, tokenizer) = RoundedBin(storage, normsStayF32: false);
        var (binInfo, binText) = await ServeAsync(("Model:CheckpointPath", bin), ("Model:TokenizerPath", tokenizer));
        AssertInfo(binInfo, "llama2.c v1", "float32", "none");
        Assert.Equal(binText, text);
        Assert.NotEmpty(text);
    }

    [Fact]
    public async Task A_gguf_file_alone_is_served_with_its_own_tokenizer_and_generates_what_the_bin_of_its_weights_does()
    {
        var (info, text) = await ServeAsync(("Model:CheckpointPath", GgufFile(Storage.F16)));
        AssertInfo(info, "gguf", "float16", "none");

        var (bin, tokenizer) = RoundedBin(Storage.F16, normsStayF32: true);
        Assert.Equal((await ServeAsync(("Model:CheckpointPath", bin), ("Model:TokenizerPath", tokenizer))).Text, text);

        var (q8Info, q8Text) = await ServeAsync(("Model:CheckpointPath", GgufFile(Storage.Q8_0)));
        AssertInfo(q8Info, "gguf", "int8", "q8_0 (file)");
        Assert.NotEmpty(q8Text);
    }

    [Fact]
    public async Task Quantized_at_load_a_bf16_folder_generates_what_its_rounded_bin_quantized_at_load_does()
    {
        var (info, text) = await ServeAsync(("Model:CheckpointPath", HuggingFaceFolder(Storage.BF16)), ("Model:Quantization", "q8_0"));
        AssertInfo(info, "safetensors", "int8", "q8_0 (at load)");

        var (bin, tokenizer) = RoundedBin(Storage.BF16, normsStayF32: false);
        var (binInfo, binText) = await ServeAsync(("Model:CheckpointPath", bin), ("Model:TokenizerPath", tokenizer), ("Model:Quantization", "q8_0"));
        AssertInfo(binInfo, "llama2.c v1", "int8", "q8_0 (at load)");
        Assert.Equal(binText, text);
    }
}

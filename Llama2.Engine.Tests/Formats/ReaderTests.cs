using Llama2.Engine.Formats;
using Llama2.Engine.Formats.Gguf;
using Llama2.Engine.Formats.SafeTensors;
using static Llama2.Engine.Tests.Formats.ForeignModels;

namespace Llama2.Engine.Tests.Formats;

/// <summary>The safetensors and GGUF readers: what they map, and the values they read back.</summary>
public sealed class ReaderTests : IDisposable
{
    readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    static float[] Values(int count, int seed = 3)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray();
    }

    static float[] ReadAll(MappedTensor tensor)
    {
        var all = new float[tensor.ElementCount];
        tensor.ReadFloats(0, all);
        return all;
    }

    [Theory]
    [InlineData(Storage.F32)]
    [InlineData(Storage.F16)]
    [InlineData(Storage.BF16)]
    public void Safetensors_tensors_read_back_as_stored(Storage storage)
    {
        var values = Values(6 * 70); // 70 columns: the vector loops' tails are read too
        var path = _dir.File("t.safetensors");
        new SafeTensorsWriter()
            .Add("norm", "F32", [3], Encode([1f, 2f, 3f], Storage.F32))
            .Add("w", SafeTensorsDType(storage), [6, 70], Encode(values, storage))
            .Write(path);

        using var file = SafeTensorsFile.Open(path);
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal(["norm", "w"], file.TensorNames.Order());
        var w = file.Tensor("w");
        Assert.Equal([6L, 70], w.Shape);
        Assert.Equal((6L, 70L), (w.Rows, w.Columns));
        Assert.Equal(Enum.Parse<TensorType>(storage.ToString()), w.Type);
        Assert.Equal(file.DataStart + 12, w.FileOffset);
        Bitwise.AssertEqual(Rounded(values, storage), ReadAll(w), "w");

        var part = new float[75]; // from the middle of row 1 into row 2
        w.ReadFloats(100, part);
        Bitwise.AssertEqual(Rounded(values, storage).AsSpan(100, 75), part, "w[100..175]");
        Assert.Throws<ArgumentOutOfRangeException>(() => w.ReadFloats(400, new float[21]));
    }

    [Fact]
    public void Special_values_survive_widening()
    {
        float[] values = [0f, -0f, float.PositiveInfinity, float.NegativeInfinity, float.Epsilon * 1000, 65504f, -1.5f, 3.0e38f];
        var path = _dir.File("s.safetensors");
        new SafeTensorsWriter().Add("h", "F16", [8], Encode(values, Storage.F16)).Add("b", "BF16", [8], Encode(values, Storage.BF16)).Write(path);
        using var file = SafeTensorsFile.Open(path);
        Bitwise.AssertEqual(Rounded(values, Storage.F16), ReadAll(file.Tensor("h")), "fp16");
        Bitwise.AssertEqual(Rounded(values, Storage.BF16), ReadAll(file.Tensor("b")), "bf16");
    }

    [Fact]
    public void Gguf_metadata_tensors_and_alignment()
    {
        var weights = Values(4 * 64);
        var path = _dir.File("t.gguf");
        new GgufWriter { Alignment = 64 }
            .UInt32("general.alignment", 64)
            .String("general.name", "Λάμα")
            .Float32("x.eps", 1e-6f)
            .Bool("x.flag", true)
            .Strings("x.words", ["a", "▁b", ""])
            .Ints("x.ints", [-1, 7])
            .Tensor("norm", [64], GgufWriter.F32, Encode(Values(64, 9), Storage.F32))
            .Tensor("w", [4, 64], GgufWriter.Q8_0, QuantizeQ8_0(weights))
            .Tensor("h", [2, 64], GgufWriter.F16, Encode(weights[..128], Storage.F16))
            .Write(path);

        using var file = GgufFile.Open(path);
        Assert.Equal(3u, file.Version);
        Assert.Equal(64, file.Alignment);
        Assert.Equal(0, file.DataStart % 64);
        Assert.Equal("Λάμα", file.Metadata["general.name"]);
        Assert.Equal(1e-6f, file.Metadata["x.eps"]);
        Assert.Equal(true, file.Metadata["x.flag"]);
        Assert.Equal(new[] { "a", "▁b", "" }, file.Metadata["x.words"]);
        Assert.Equal(new[] { -1, 7 }, file.Metadata["x.ints"]);

        var w = file.Tensor("w");
        Assert.Equal([4L, 64], w.Shape); // ggml's [64, 4] reversed
        Assert.Equal(TensorType.Q8_0, w.Type);
        Assert.Equal(4 * 2 * 34, w.ByteLength);
        Assert.Equal(0, w.FileOffset % 64);
        var dequantized = DequantizeQ8_0(QuantizeQ8_0(weights));
        Bitwise.AssertEqual(dequantized, ReadAll(w), "Q8_0");
        var part = new float[50];
        w.ReadFloats(45, part); // starts inside a block, crosses two
        Bitwise.AssertEqual(dequantized.AsSpan(45, 50), part, "Q8_0[45..95]");
        Bitwise.AssertEqual(Rounded(weights[..128], Storage.F16), ReadAll(file.Tensor("h")), "F16");
    }

    [Fact]
    public void Q8_0_dequantizes_exactly_to_q_times_the_fp16_scale()
    {
        var block = new byte[34];
        BitConverter.TryWriteBytes(block, (Half)0.0123f);
        for (int j = 0; j < 32; j++) block[2 + j] = (byte)(sbyte)(j * 8 - 127);
        var path = _dir.File("q.gguf");
        new GgufWriter().Tensor("q", [32], GgufWriter.Q8_0, block).Write(path);
        using var file = GgufFile.Open(path);
        var values = ReadAll(file.Tensor("q"));
        double scale = (double)(Half)0.0123f;
        for (int j = 0; j < 32; j++) Assert.Equal((j * 8 - 127) * scale, values[j]); // exact: no rounding in fp32
    }

    [Fact]
    public void Hugging_Face_folder_reports_its_shape_settings_and_layout()
    {
        var bin = _dir.File("m.bin");
        var config = TestModels.Small(sharedClassifier: true, kvHeads: 1);
        CheckpointWriter.WriteRandom(bin, config, version: 1);
        string folder;
        using (var checkpoint = Checkpoint.Open(bin))
            folder = WriteHuggingFace(checkpoint, _dir.File("hf"), new HuggingFaceOptions { Storage = Storage.BF16, Shards = 2, RmsNormEps = 1e-6f });

        using var model = ExternalModel.Open(folder);
        Assert.Equal("Hugging Face (safetensors)", model.FormatName);
        Assert.Equal(config, model.Config);
        Assert.Equal(1e-6f, model.RmsNormEps);
        Assert.Equal(10000f, model.RopeTheta);
        Assert.Equal(RotaryLayout.HalfSplit, model.QueryKeyLayout);
        Assert.Equal("BF16", model.StoredTypes());
        Assert.Null(model.Vocabulary);
        Assert.Contains("tokenizer.model", model.VocabularyNote);
        Assert.Equal("model.embed_tokens.weight", model.Tensor(TensorKind.Classifier).Name);
        Assert.Equal([config.KvDim, config.Dim], model.Tensor(TensorKind.Wk, 1).Shape);
        Assert.Equal(2, ((Llama2.Engine.Formats.HuggingFace.HuggingFaceModel)model).ShardPaths.Count);
    }

    [Fact]
    public void Gguf_model_reports_its_shape_settings_and_layout()
    {
        var bin = _dir.File("m.bin");
        var config = TestModels.Small(sharedClassifier: false);
        CheckpointWriter.WriteRandom(bin, config, version: 1);
        string path;
        using (var checkpoint = Checkpoint.Open(bin))
            path = WriteGguf(checkpoint, _dir.File("m.gguf"), new GgufOptions
            {
                Storage = Storage.Q8_0,
                RopeTheta = 1e6f,
                Pieces = SentencePieceWriter.LlamaStylePieces(config.VocabSize),
            });

        using var model = ExternalModel.Open(path);
        Assert.Equal("GGUF", model.FormatName);
        Assert.Equal(config, model.Config);
        Assert.Equal(1e6f, model.RopeTheta);
        Assert.Equal(RotaryLayout.Interleaved, model.QueryKeyLayout);
        Assert.Equal("Q8_0, F32", model.StoredTypes());
        Assert.Null(model.Vocabulary!.Llama2cProblem(config.VocabSize));
        Assert.Equal("output.weight", model.Tensor(TensorKind.Classifier).Name);
    }
}

using Llama2.Engine.Formats;
using static Llama2.Engine.Tests.Formats.ForeignModels;

namespace Llama2.Engine.Tests.Formats;

/// <summary>
/// Each format written from the weights of a .bin, converted back to a .bin, must compute what the original does:
/// the engine's logits bit for bit (fp32 formats), or bit for bit those of a .bin holding the weights as the format
/// rounds them (fp16, bf16, Q8_0).
/// </summary>
public sealed class ConversionTests : ForeignModelTests
{
    string Convert(string source, int version)
    {
        var output = Dir.File($"converted-{Guid.NewGuid():N}.bin");
        using var model = ExternalModel.Open(source);
        CheckpointConverter.Convert(model, output, version, cancellationToken: TestToken);
        return output;
    }

    public static TheoryData<int, bool, int, int> Fp32Cases => new()
    {
        // version, shared classifier, kv heads, shards
        { 1, false, 2, 1 }, { 0, false, 2, 1 }, { 1, true, 2, 1 }, { 0, true, 4, 1 }, { 1, false, 1, 3 }, { 0, true, 2, 4 },
    };

    [Theory]
    [MemberData(nameof(Fp32Cases))]
    public void Fp32_safetensors_convert_to_a_bin_with_the_original_logits_bit_for_bit(int version, bool shared, int kvHeads, int shards)
    {
        var original = Original(shared, kvHeads);
        var converted = Convert(HuggingFace(original, new HuggingFaceOptions { Shards = shards }), version);

        Bitwise.AssertEqual(Logits(original), Logits(converted), "logits");
        if (version == 1) Assert.Equal(File.ReadAllBytes(original), File.ReadAllBytes(converted)); // the very same file
    }

    [Fact]
    public void Leaving_out_the_query_key_permutation_gives_other_logits()
    {
        // Written without Hugging Face's permutation, the reader's undoing of it scrambles the rotary pairs: a converter
        // that skipped the permutation would be caught by the comparison the other tests make.
        var original = Original();
        var converted = Convert(HuggingFace(original, new HuggingFaceOptions { PermuteQueryKey = false }), 1);

        var expected = Logits(original);
        var actual = Logits(converted);
        Assert.Equal(expected.Length, actual.Length);
        Assert.Equal(expected.Length / 300 - 1, Enumerable.Range(1, Tokens.Length - 1)
            .Count(pos => !expected.AsSpan(pos * 300, 300).SequenceEqual(actual.AsSpan(pos * 300, 300))));
        // Position 0 rotates by angle 0, so the permutation cannot show there: the first logits agree.
        Bitwise.AssertEqual(expected.AsSpan(0, 300), actual.AsSpan(0, 300), "logits at position 0");
    }

    [Theory]
    [InlineData(Storage.BF16, 1, 1)]
    [InlineData(Storage.BF16, 3, 0)]
    [InlineData(Storage.F16, 2, 1)]
    public void Half_precision_safetensors_convert_to_the_logits_of_the_rounded_weights_bit_for_bit(Storage storage, int shards, int version)
    {
        var original = Original();
        var converted = Convert(HuggingFace(original, new HuggingFaceOptions { Storage = storage, Shards = shards }), version);

        Bitwise.AssertEqual(Logits(Rounded(original, storage, normsStayF32: false)), Logits(converted), "logits");
        Assert.NotEqual(Logits(original), Logits(converted)); // the rounding is real: the comparison is against the rounded weights
    }

    [Theory]
    [InlineData(Storage.F32, false)]
    [InlineData(Storage.F32, true)]
    [InlineData(Storage.F16, false)]
    [InlineData(Storage.BF16, true)]
    [InlineData(Storage.Q8_0, false)]
    [InlineData(Storage.Q8_0, true)]
    public void Gguf_converts_to_the_logits_of_its_weights_bit_for_bit(Storage storage, bool shared)
    {
        var original = Original(shared);
        var converted = Convert(Gguf(original, new GgufOptions { Storage = storage }), 1);

        // Q8_0: the .bin of the dequantized weights (each q × the block's fp16 scale, exact in fp32).
        Bitwise.AssertEqual(Logits(Rounded(original, storage, normsStayF32: true)), Logits(converted), "logits");
    }

    [Fact]
    public void Hugging_Face_and_gguf_of_the_same_weights_convert_to_the_same_file()
    {
        var original = Original(kvHeads: 1);
        var fromHuggingFace = Convert(HuggingFace(original, new HuggingFaceOptions { Shards = 2 }), 0);
        var fromGguf = Convert(Gguf(original, new GgufOptions()), 0);
        Assert.Equal(File.ReadAllBytes(fromHuggingFace), File.ReadAllBytes(fromGguf));
    }

    [Fact]
    public void A_version_0_file_holds_the_rotary_tables_of_llama2c()
    {
        var original = Original();
        var converted = Convert(HuggingFace(original, new HuggingFaceOptions()), 0);
        using var bin = Checkpoint.Open(converted);
        var config = bin.Config;
        var cos = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(
            bin.Bytes(bin.Layout.OffsetOf(TensorKind.FreqCisReal), config.SeqLen * config.HeadSize / 2 * 4));
        int half = config.HeadSize / 2;
        Assert.Equal(1f, cos[0]);
        // Position 5, pair 1: cos(5 / 10000^(2/head_size)).
        Assert.Equal(Math.Cos(5 / Math.Pow(10000, 2.0 / config.HeadSize)), cos[5 * half + 1], 5);
    }

    [Fact]
    public void A_rotary_base_other_than_10000_is_refused_and_nothing_is_written()
    {
        var folder = HuggingFace(Original(), new HuggingFaceOptions { RopeTheta = 500000f });
        var output = Dir.File("theta.bin");
        using var model = ExternalModel.Open(folder);

        var e = Assert.Throws<CheckpointFormatException>(() => CheckpointConverter.Convert(model, output, 1, cancellationToken: TestToken));
        Assert.Contains("rope_theta", e.Message);
        Assert.Contains("500000", e.Message);
        Assert.False(File.Exists(output));
        Assert.False(File.Exists(output + ".partial"));
    }

    [Fact]
    public void A_shape_beyond_what_a_bin_reader_takes_is_refused_before_writing()
    {
        var folder = HuggingFace(Original(), new HuggingFaceOptions());
        var config = Path.Combine(folder, "config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"max_position_embeddings\":64", "\"max_position_embeddings\":2097152"));
        using var model = ExternalModel.Open(folder);
        var output = Dir.File("long.bin");

        var e = Assert.Throws<CheckpointFormatException>(() => CheckpointConverter.Convert(model, output, 1, cancellationToken: TestToken));
        Assert.Contains("its shape cannot be written as a llama2.c checkpoint: header field seq_len = 2097152 is out of range", e.Message);
        Assert.False(File.Exists(output + ".partial"));
    }

    [Fact]
    public void Another_rms_norm_epsilon_is_a_warning()
    {
        using var model = ExternalModel.Open(HuggingFace(Original(), new HuggingFaceOptions { RmsNormEps = 1e-6f }));
        Assert.Equal(1e-6f, model.RmsNormEps);
        Assert.Contains("1E-06", Assert.Single(CheckpointConverter.Warnings(model)));
        Assert.Null(CheckpointConverter.Unrepresentable(model));
    }

    [Fact]
    public void Cancelling_a_conversion_leaves_no_file()
    {
        using var model = ExternalModel.Open(HuggingFace(Original(), new HuggingFaceOptions()));
        var output = Dir.File("cancelled.bin");
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => CheckpointConverter.Convert(model, output, 1, cancellationToken: cancel.Token));
        Assert.False(File.Exists(output));
        Assert.False(File.Exists(output + ".partial"));
    }

    [Fact]
    public void Progress_reaches_the_whole_file()
    {
        using var model = ExternalModel.Open(HuggingFace(Original(), new HuggingFaceOptions()));
        var fractions = new List<double>();
        CheckpointConverter.Convert(model, Dir.File("progress.bin"), 1, new SynchronousProgress(fractions.Add), TestToken);
        Assert.Equal(1.0, fractions[^1]);
        Assert.Equal(fractions.Order(), fractions);
    }

    sealed class SynchronousProgress(Action<double> report) : IProgress<double>
    {
        public void Report(double value) => report(value);
    }
}

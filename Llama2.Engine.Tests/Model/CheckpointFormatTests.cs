using System.Buffers.Binary;

namespace Llama2.Engine.Tests.Model;

public sealed class CheckpointFormatTests : IDisposable
{
    readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>Every weight is a function of its tensor and index, so what is read can be checked element by element.</summary>
    static float WeightValue(TensorKind tensor, long index) => (int)tensor * 1000 + index % 997 * 0.001f;

    string Write(ModelConfig config, int version)
    {
        var path = _dir.File($"v{version}-{Guid.NewGuid():N}.bin");
        CheckpointWriter.Write(path, new CheckpointLayout(config, version), (tensor, start, chunk) =>
        {
            for (int i = 0; i < chunk.Length; i++) chunk[i] = WeightValue(tensor, start + i);
        });
        return path;
    }

    public static TheoryData<int, bool, int> Formats => new()
    {
        { 0, true, 4 }, { 0, false, 4 }, { 0, true, 2 }, { 0, false, 1 },
        { 1, true, 4 }, { 1, false, 4 }, { 1, true, 2 }, { 1, false, 1 },
    };

    [Theory]
    [MemberData(nameof(Formats))]
    public void Reads_header_and_every_tensor_where_the_format_puts_it(int version, bool shared, int kvHeads)
    {
        var config = TestModels.Small(shared, kvHeads);
        using var checkpoint = Checkpoint.Open(Write(config, version));

        Assert.Equal(config, checkpoint.Config);
        Assert.Equal(version, checkpoint.Layout.Version);
        var w = checkpoint.Weights;
        int last = config.NLayers - 1;
        var embedding = new float[config.Dim];
        w.Embed(config.VocabSize - 1, embedding);
        AssertTensor(embedding, TensorKind.TokenEmbedding, (long)(config.VocabSize - 1) * config.Dim);
        AssertTensor(w.RmsAtt(last), TensorKind.RmsAtt, (long)last * config.Dim);
        AssertTensor(w.Wq(last).Floats, TensorKind.Wq, (long)last * config.Dim * config.Dim);
        AssertTensor(w.Wk(last).Floats, TensorKind.Wk, (long)last * config.Dim * config.KvDim);
        AssertTensor(w.Wv(last).Floats, TensorKind.Wv, (long)last * config.Dim * config.KvDim);
        AssertTensor(w.Wo(last).Floats, TensorKind.Wo, (long)last * config.Dim * config.Dim);
        AssertTensor(w.RmsFfn(last), TensorKind.RmsFfn, (long)last * config.Dim);
        AssertTensor(w.W1(last).Floats, TensorKind.W1, (long)last * config.Dim * config.HiddenDim);
        AssertTensor(w.W2(last).Floats, TensorKind.W2, (long)last * config.Dim * config.HiddenDim);
        AssertTensor(w.W3(last).Floats, TensorKind.W3, (long)last * config.Dim * config.HiddenDim);
        AssertTensor(w.RmsFinal, TensorKind.RmsFinal, 0);
        AssertTensor(w.Classifier.Floats, shared ? TensorKind.TokenEmbedding : TensorKind.Classifier, 0);
    }

    static void AssertTensor(ReadOnlySpan<float> actual, TensorKind tensor, long firstIndex)
    {
        for (int i = 0; i < actual.Length; i++)
            if (actual[i] != WeightValue(tensor, firstIndex + i))
                Assert.Fail($"{tensor}[{firstIndex + i}] = {actual[i]}, expected {WeightValue(tensor, firstIndex + i)}");
    }

    [Fact]
    public void Identical_weights_in_both_versions_give_bitwise_identical_logits()
    {
        var config = TestModels.Small(sharedClassifier: false);
        var paths = new[] { 0, 1 }.Select(v => Write(config, v)).ToArray();
        var logits = paths.Select(p =>
        {
            using var checkpoint = Checkpoint.Open(p);
            var transformer = new Transformer(checkpoint);
            return transformer.Forward(3, 0, transformer.CreateState()).ToArray();
        }).ToArray();
        Assert.Equal(logits[0], logits[1]);
    }

    [Fact]
    public void Opens_a_checkpoint_through_a_symbolic_link()
    {
        var config = TestModels.Small();
        var target = Write(config, 0);
        var link = _dir.File("link.bin");
        File.CreateSymbolicLink(link, target);
        using var checkpoint = Checkpoint.Open(link);
        Assert.Equal(config, checkpoint.Config);
    }

    [Fact]
    public void Bytes_are_the_file_as_written_and_end_where_it_ends()
    {
        var path = Write(TestModels.Small(), 0);
        var file = File.ReadAllBytes(path);
        using var checkpoint = Checkpoint.Open(path);

        Assert.Equal(file.AsSpan(0, 64).ToArray(), checkpoint.Bytes(0, 64).ToArray());
        Assert.Equal(file.AsSpan(file.Length - 100).ToArray(), checkpoint.Bytes(file.Length - 100, 100).ToArray());
        Assert.Equal(0, checkpoint.Bytes(file.Length, 0).Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => checkpoint.Bytes(file.Length - 99, 100).Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => checkpoint.Bytes(-1, 10).Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => checkpoint.Bytes(0, -1).Length);
    }

    // ---- bad files: one exception type, the path in the message, never a crash ----

    CheckpointFormatException Rejects(string path, string expectedInMessage)
    {
        var e = Assert.Throws<CheckpointFormatException>(() => Checkpoint.Open(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(expectedInMessage, e.Message);
        return e;
    }

    string WriteHeader(params int[] ints)
    {
        var path = _dir.File($"header-{Guid.NewGuid():N}.bin");
        var bytes = new byte[Math.Max(ints.Length * 4, 64)];
        for (int i = 0; i < ints.Length; i++) BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(i * 4), ints[i]);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public void Missing_file() => Rejects(_dir.File("nope.bin"), "not found");

    [Fact]
    public void Empty_file()
    {
        var path = _dir.File("empty.bin");
        File.WriteAllBytes(path, []);
        Rejects(path, "too short");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void Truncated_file_says_expected_and_actual_size(int version)
    {
        var path = Write(TestModels.Small(), version);
        long full = new FileInfo(path).Length;
        using (var f = File.OpenWrite(path)) f.SetLength(full - 4);
        var e = Rejects(path, "truncated");
        Assert.Contains($"{full - 4} bytes", e.Message);
        Assert.Contains($"exactly {full} bytes", e.Message);
    }

    [Fact]
    public void File_with_trailing_data()
    {
        var path = Write(TestModels.Small(), 0);
        using (var f = new FileStream(path, FileMode.Append)) f.Write(new byte[12]);
        Rejects(path, "trailing data");
    }

    [Theory]
    [InlineData(0, 64, 2, 4, 4, 300, 64, "dim")]
    [InlineData(-32, 64, 2, 4, 4, 300, 64, "dim")]
    [InlineData(32, 0, 2, 4, 4, 300, 64, "hidden_dim")]
    [InlineData(32, 64, -1, 4, 4, 300, 64, "n_layers")]
    [InlineData(32, 64, 2, 0, 4, 300, 64, "n_heads")]
    [InlineData(32, 64, 2, 4, 0, 300, 64, "n_kv_heads")]
    [InlineData(32, 64, 2, 4, 4, 0, 64, "vocab_size")]
    [InlineData(32, 64, 2, 4, 4, 300, 0, "seq_len")]
    [InlineData(1 << 30, 64, 2, 4, 4, 300, 64, "dim")]
    [InlineData(32, 64, 2, 4, 4, 300, int.MaxValue, "seq_len")]
    [InlineData(32, 64, 2, 4, 4, int.MinValue, 64, "vocab_size")]
    public void Out_of_range_dimension(int dim, int hidden, int layers, int heads, int kvHeads, int vocab, int seqLen, string field) =>
        Rejects(WriteHeader(dim, hidden, layers, heads, kvHeads, vocab, seqLen), $"{field} = ");

    [Fact]
    public void Dim_not_divisible_by_heads() => Rejects(WriteHeader(30, 64, 2, 4, 4, 300, 64), "not divisible by n_heads");

    [Fact]
    public void Heads_not_divisible_by_kv_heads() => Rejects(WriteHeader(32, 64, 2, 4, 3, 300, 64), "not divisible by n_kv_heads");

    [Fact]
    public void Odd_head_size() => Rejects(WriteHeader(36, 64, 2, 4, 4, 300, 64), "odd");

    [Fact]
    public void Unknown_version_after_the_magic()
    {
        var path = _dir.File("v3.bin");
        var bytes = new byte[256];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, CheckpointLayout.Version1Magic);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(4), 3);
        File.WriteAllBytes(path, bytes);
        Rejects(path, "unsupported checkpoint version 3");
    }

    [Fact]
    public void Version_1_magic_with_a_short_header()
    {
        var path = _dir.File("v1short.bin");
        var bytes = new byte[100];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, CheckpointLayout.Version1Magic);
        File.WriteAllBytes(path, bytes);
        Rejects(path, "too short for a version 1 header");
    }

    [Fact]
    public void Another_format_entirely()
    {
        // A file starting with GGUF is read as one (served directly): a broken one gets the GGUF reader's error.
        var path = _dir.File("model.gguf");
        File.WriteAllBytes(path, [.. "GGUF"u8, 3, 0, 0, 0, .. new byte[200]]);
        Assert.Contains("general.architecture", Rejects(path, "").Message);
        path = _dir.File("model.onnx");
        File.WriteAllBytes(path, [.. "ONNX"u8, 3, 0, 0, 0, .. new byte[200]]);
        Rejects(path, "not a llama2.c checkpoint");
    }

    [Fact]
    public void Tokenizer_smaller_than_the_models_vocabulary()
    {
        var (checkpoint, _) = TestModels.WriteSmallModel(_dir);
        var small = _dir.File("small-tokenizer.bin");
        TestModels.WriteByteTokenizer(small, 280);
        var e = Assert.Throws<CheckpointFormatException>(() => LlamaModel.Load(checkpoint, small));
        Assert.Contains(small, e.Message);
        Assert.Contains("280 tokens but the model's vocabulary has 300", e.Message);
    }

    [Fact]
    public void Truncated_tokenizer()
    {
        var path = _dir.File("cut-tokenizer.bin");
        TestModels.WriteByteTokenizer(path, 300);
        using (var f = File.OpenWrite(path)) f.SetLength(f.Length - 3);
        var e = Assert.Throws<CheckpointFormatException>(() => Llama2.Engine.Tokenization.Tokenizer.Load(path, 300));
        Assert.Contains(path, e.Message);
        Assert.Contains("past the end of the file", e.Message);
    }

    [Fact]
    public void Missing_tokenizer()
    {
        var (checkpoint, _) = TestModels.WriteSmallModel(_dir);
        var e = Assert.Throws<CheckpointFormatException>(() => LlamaModel.Load(checkpoint, _dir.File("none.bin")));
        Assert.Contains("tokenizer file not found", e.Message);
    }

    [Fact]
    public void Writer_output_has_the_size_the_layout_predicts()
    {
        foreach (var version in new[] { 0, 1 })
        {
            var config = TestModels.Small(sharedClassifier: false);
            var path = Write(config, version);
            var layout = new CheckpointLayout(config, version);
            long expected = layout.HeaderBytes + config.ParameterCount * 4
                + (version == 0 ? 2L * config.SeqLen * config.HeadSize / 2 * 4 : 0);
            Assert.Equal(expected, new FileInfo(path).Length);
        }
    }
}

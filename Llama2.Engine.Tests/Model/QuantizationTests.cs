using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Llama2.Engine.Kernels;

namespace Llama2.Engine.Tests.Model;

/// <summary>
/// Version 2 (Q8_0) checkpoints: export.py's quantization reproduced byte for byte, what the reader finds where, quantizing
/// at load against quantizing to a file, and bad files refused with one message.
/// </summary>
public sealed class QuantizationTests : IDisposable
{
    readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Quantizing_tiny32k_gives_the_file_export_py_wrote_byte_for_byte()
    {
        string output = _dir.File("tiny32k-q80.bin");
        var layout = CheckpointQuantizer.QuantizeFile(SharedData.Tiny32k, output, cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(16, layout.GroupSize); // 64 backs off to 16 for dim 48
        Assert.Equal(File.ReadAllBytes(SharedData.Require("models/tiny32k-q80.bin")), File.ReadAllBytes(output));
        Assert.Empty(Directory.GetFiles(_dir.Path, "*.partial"));
    }

    [Fact]
    public void Weights_round_to_nearest_ties_to_even_with_scale_max_over_127_and_zero_groups_give_zero()
    {
        // max 12.7 → scale 0.1: 0.25 / 0.1 = 2.5 → 2 and 0.35 / 0.1 = 3.5 → 4 (ties to even), as torch.round.
        float[] weights = [12.7f, 0.25f, 0.35f, -12.7f, 0f, 0f, 0f, 0f];
        var values = new sbyte[8];
        var scales = new float[2];
        WeightQuantizer.Quantize(weights, values, scales, groupSize: 4);
        Assert.Equal(12.7f / 127f, scales[0]);
        Assert.Equal(0.25f / (12.7f / 127f), 2.5f);
        Assert.Equal([127, 2, 4, -127, 0, 0, 0, 0], values.Select(v => (int)v));
        Assert.Equal(0f, scales[1]);
    }

    [Theory]
    [InlineData(288, 768, 32)]   // stories15M: 64 does not divide dim 288
    [InlineData(512, 1376, 32)]  // stories42M: 64 does not divide hidden_dim 1376
    [InlineData(768, 2048, 64)]  // stories110M
    [InlineData(4096, 11008, 64)] // Llama 2 7B
    [InlineData(48, 128, 16)]    // tiny32k
    public void Group_size_backs_off_until_it_divides_dim_and_hidden_dim(int dim, int hidden, int expected)
    {
        var config = new ModelConfig(dim, hidden, 1, dim / 16, dim / 16, 100, 16, true);
        Assert.Equal(expected, CheckpointQuantizer.FitGroupSize(config, CheckpointQuantizer.DefaultGroupSize));
    }

    /// <summary>A small fp32 model and its version 2 file (the default group size, 64, backs off to 32 for dim 32).</summary>
    (string Fp32, string Q8) SmallModel(bool shared, int version = 0)
    {
        var (fp32, _) = TestModels.WriteSmallModel(_dir, TestModels.Small(sharedClassifier: shared), version, seed: shared ? 3 : 4);
        var q8 = _dir.File($"q8-{shared}-{version}.bin");
        CheckpointQuantizer.QuantizeFile(fp32, q8, cancellationToken: TestContext.Current.CancellationToken);
        return (fp32, q8);
    }

    [Theory]
    [InlineData(true, 0)]
    [InlineData(false, 0)]
    [InlineData(false, 1)]
    public void The_reader_finds_every_tensor_where_the_writer_put_it(bool shared, int version)
    {
        var (fp32Path, q8Path) = SmallModel(shared, version);
        using var fp32 = Checkpoint.Open(fp32Path);
        using var q8 = Checkpoint.Open(q8Path);
        var c = fp32.Config;

        Assert.Equal(c, q8.Config);
        Assert.Equal(2, q8.Layout.Version);
        Assert.Equal(32, q8.Layout.GroupSize);
        Assert.Equal("q8_0 (file)", q8.Quantization);
        Assert.Equal("none", fp32.Quantization);
        // Header: magic, version 2, the seven ints, the shared byte, the group size (unaligned), zeros.
        var header = q8.Bytes(0, 256);
        Assert.Equal(CheckpointLayout.Version1Magic, BinaryPrimitives.ReadUInt32LittleEndian(header));
        Assert.Equal(2, BinaryPrimitives.ReadInt32LittleEndian(header[4..]));
        Assert.Equal(c.Dim, BinaryPrimitives.ReadInt32LittleEndian(header[8..]));
        Assert.Equal(shared ? 1 : 0, header[36]);
        Assert.Equal(32, BinaryPrimitives.ReadInt32LittleEndian(header[37..]));
        Assert.True(header[41..].ToArray().All(b => b == 0));

        var f = fp32.Weights;
        var q = q8.Weights;
        int last = c.NLayers - 1;
        Assert.Equal(f.RmsAtt(last).ToArray(), q.RmsAtt(last).ToArray());
        Assert.Equal(f.RmsFfn(last).ToArray(), q.RmsFfn(last).ToArray());
        Assert.Equal(f.RmsFinal.ToArray(), q.RmsFinal.ToArray());
        AssertQuantized(f.TokenEmbedding, q.TokenEmbedding);
        foreach (int layer in new[] { 0, last })
        {
            AssertQuantized(f.Wq(layer), q.Wq(layer));
            AssertQuantized(f.Wk(layer), q.Wk(layer));
            AssertQuantized(f.Wv(layer), q.Wv(layer));
            AssertQuantized(f.Wo(layer), q.Wo(layer));
            AssertQuantized(f.W1(layer), q.W1(layer));
            AssertQuantized(f.W2(layer), q.W2(layer));
            AssertQuantized(f.W3(layer), q.W3(layer));
        }
        AssertQuantized(f.Classifier, q.Classifier);
        Assert.Equal(Q8FileBytes(c, 32), new FileInfo(q8Path).Length);

        // The embedding is read back as runq.c dequantizes it: value × scale.
        var row = new float[c.Dim];
        q.Embed(5, row);
        var m = q.TokenEmbedding;
        for (int i = 0; i < c.Dim; i++) Assert.Equal(m.Values[5 * c.Dim + i] * m.Scales[(5 * c.Dim + i) / 32], row[i]);
    }

    static void AssertQuantized(WeightMatrix fp32, WeightMatrix q8)
    {
        Assert.Equal(WeightFormat.Q8_0, q8.Format);
        Assert.Equal((fp32.Rows, fp32.Columns), (q8.Rows, q8.Columns));
        var values = new sbyte[fp32.Floats.Length];
        var scales = new float[values.Length / q8.GroupSize];
        WeightQuantizer.Quantize(fp32.Floats, values, scales, q8.GroupSize);
        Assert.Equal(values, q8.Values.ToArray());
        Assert.Equal(scales, q8.Scales.ToArray());
    }

    /// <summary>The size export.py's file has: header, norms, and per matrix 1 byte per weight and 4 per group.</summary>
    static long Q8FileBytes(ModelConfig c, int gs)
    {
        long dim = c.Dim, hidden = c.HiddenDim, kv = c.KvDim, layers = c.NLayers, vocab = c.VocabSize;
        long norms = (2 * layers * dim + dim) * 4;
        long weights = vocab * dim + layers * (2 * dim * dim + 2 * dim * kv + 3 * dim * hidden) + (c.SharedClassifier ? 0 : vocab * dim);
        return 256 + norms + weights + weights / gs * 4;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Quantizing_at_load_gives_the_logits_of_the_quantized_file_bit_for_bit(bool shared)
    {
        var (fp32Path, q8Path) = SmallModel(shared);
        var tokenizer = _dir.File("tokenizer.bin");
        using var atLoad = LlamaModel.Load(fp32Path, tokenizer, Quantization.Q8_0);
        using var fromFile = LlamaModel.Load(q8Path, tokenizer);
        Assert.Equal("q8_0 (at load)", atLoad.Checkpoint.Quantization);
        Assert.Equal(WeightFormat.Q8_0, atLoad.Transformer.Format);
        Assert.Equal(fromFile.Checkpoint.FileBytes, atLoad.Checkpoint.FileBytes);
        Assert.Equal(fromFile.Checkpoint.Bytes(0, (int)fromFile.Checkpoint.FileBytes).ToArray(),
            atLoad.Checkpoint.Bytes(0, (int)atLoad.Checkpoint.FileBytes).ToArray());

        RunState a = atLoad.Transformer.CreateState(), b = fromFile.Transformer.CreateState();
        int[] tokens = [1, 17, 42, 99, 5, 250, 3, 77];
        for (int pos = 0; pos < tokens.Length; pos++)
            Bitwise.AssertEqual(fromFile.Transformer.Forward(tokens[pos], pos, b), atLoad.Transformer.Forward(tokens[pos], pos, a), $"position {pos}");
    }

    [Fact]
    public void Int8_logits_stay_close_to_the_fp32_models()
    {
        var (fp32Path, q8Path) = SmallModel(shared: true);
        using var fp32 = Checkpoint.Open(fp32Path);
        using var q8 = Checkpoint.Open(q8Path);
        var f = new Transformer(fp32);
        var q = new Transformer(q8);
        var logitsF = f.Forward(7, 0, f.CreateState()).ToArray();
        var logitsQ = q.Forward(7, 0, q.CreateState()).ToArray();
        float scale = logitsF.Max(Math.Abs);
        for (int i = 0; i < logitsF.Length; i++) Assert.True(Math.Abs(logitsF[i] - logitsQ[i]) < 0.05f * scale, $"logit {i}: {logitsQ[i]} vs fp32 {logitsF[i]}");
        Assert.NotEqual(logitsF, logitsQ);
    }

    [Fact]
    public void An_unshared_classifier_equal_to_the_embedding_is_written_shared_as_export_py_decides()
    {
        var config = TestModels.Small(sharedClassifier: false);
        var path = _dir.File("equal.bin");
        CheckpointWriter.Write(path, new CheckpointLayout(config, 0), (tensor, start, chunk) =>
        {
            for (int i = 0; i < chunk.Length; i++) chunk[i] = ((start + i) % 13 - 6) * 0.01f; // embedding == classifier
        }, cancellationToken: TestContext.Current.CancellationToken);
        var layout = CheckpointQuantizer.QuantizeFile(path, _dir.File("equal-q8.bin"), cancellationToken: TestContext.Current.CancellationToken);
        Assert.True(layout.Config.SharedClassifier);
        using var q8 = Checkpoint.Open(_dir.File("equal-q8.bin"));
        Assert.True(q8.Config.SharedClassifier);
    }

    [Fact]
    public void A_version_2_file_is_not_quantized_again()
    {
        var (_, q8) = SmallModel(shared: true);
        var e = Assert.Throws<CheckpointFormatException>(() =>
            CheckpointQuantizer.QuantizeFile(q8, _dir.File("again.bin"), cancellationToken: TestContext.Current.CancellationToken));
        Assert.Contains("already quantized", e.Message);
        Assert.False(File.Exists(_dir.File("again.bin")));
    }

    [Fact]
    public void Cancelled_quantizing_leaves_no_file()
    {
        var (fp32, _) = TestModels.WriteSmallModel(_dir);
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.Throws<OperationCanceledException>(() => CheckpointQuantizer.QuantizeFile(fp32, _dir.File("out.bin"), cancellationToken: cancelled.Token));
        Assert.False(File.Exists(_dir.File("out.bin")));
        Assert.Empty(Directory.GetFiles(_dir.Path, "*.partial"));
    }

    // ---- bad version 2 files: one CheckpointFormatException naming the file and what is wrong ----

    CheckpointFormatException Rejects(string path, string expectedInMessage)
    {
        var e = Assert.Throws<CheckpointFormatException>(() => Checkpoint.Open(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(expectedInMessage, e.Message);
        return e;
    }

    /// <summary>The small model's version 2 file with its header's group size (offset 37) replaced.</summary>
    string WithGroupSize(int groupSize)
    {
        var (_, q8) = SmallModel(shared: true);
        var bytes = File.ReadAllBytes(q8);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(37), groupSize);
        var path = _dir.File($"gs{groupSize}.bin");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Theory]
    [InlineData(0, "group size 0 must be positive")]
    [InlineData(-16, "group size -16 must be positive")]
    [InlineData(12, "group size 12 does not divide dim 32")]
    [InlineData(16, "exactly")] // divides both: a valid header, but the file's size is that of group size 32
    public void Bad_group_size(int groupSize, string expected) => Rejects(WithGroupSize(groupSize), expected);

    [Fact]
    public void Group_size_that_does_not_divide_hidden_dim()
    {
        // dim 32, hidden 48: 32 divides dim but not hidden_dim, where runq.c would drop w2's last 16 columns.
        var config = TestModels.Small() with { HiddenDim = 48 };
        var path = _dir.File("hidden.bin");
        File.WriteAllBytes(path, CheckpointHeader.Write(new CheckpointLayout(config, 2, 16)));
        var bytes = File.ReadAllBytes(path);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(37), 32);
        File.WriteAllBytes(path, bytes);
        Rejects(path, "group size 32 does not divide hidden_dim 48");
    }

    [Fact]
    public void Truncated_version_2_file_says_expected_and_actual_size()
    {
        var (_, q8) = SmallModel(shared: false);
        long full = new FileInfo(q8).Length;
        using (var f = File.OpenWrite(q8)) f.SetLength(full - 1);
        var e = Rejects(q8, "truncated");
        Assert.Contains($"{full - 1} bytes", e.Message);
        Assert.Contains($"group size 32, must be exactly {full} bytes", e.Message);
    }

    [Fact]
    public void Version_2_file_with_trailing_data()
    {
        var (_, q8) = SmallModel(shared: true);
        using (var f = new FileStream(q8, FileMode.Append)) f.Write(new byte[4]);
        Rejects(q8, "trailing data");
    }

    [Fact]
    public void Version_2_file_whose_shared_flag_disagrees_with_its_size()
    {
        // An unshared model's file marked shared: the classifier's bytes are left over.
        var (_, q8) = SmallModel(shared: false);
        var bytes = File.ReadAllBytes(q8);
        bytes[36] = 1;
        File.WriteAllBytes(q8, bytes);
        Rejects(q8, "trailing data");
    }

    [Fact]
    public void Version_2_header_with_a_bad_shape()
    {
        var path = _dir.File("shape.bin");
        var bytes = new byte[256];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, CheckpointLayout.Version1Magic);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(4), 2);
        int[] ints = [32, 64, 2, 4, 3, 300, 64];
        for (int i = 0; i < ints.Length; i++) BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(8 + 4 * i), ints[i]);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(37), 16);
        File.WriteAllBytes(path, bytes);
        Rejects(path, "not divisible by n_kv_heads");
    }
}

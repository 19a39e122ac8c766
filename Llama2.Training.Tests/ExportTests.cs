using Llama2.Engine.Inference;
using Llama2.Training.Export;

namespace Llama2.Training.Tests;

/// <summary>
/// The exported llama2.c checkpoints, read back by the engine: the engine's logits (run.c's forward pass, checked
/// against run.c's own outputs in the engine tests) equal the trainer's forward pass; an export reloads bit for bit.
/// </summary>
public sealed class ExportTests
{
    // dim 64, grouped-query attention (4 heads, 2 key/value heads), 3 sequences of the full 32 tokens.
    static readonly ModelConfig Shape = ModelShape.Create(64, 2, 4, 2, 97, 32, hiddenDim: 96);

    /// <summary>Position by position through the engine, each sequence in a fresh state: the logits of every position.</summary>
    static float[] EngineLogits(string path, int[] tokens, int sequences, int seqLen)
    {
        using var checkpoint = Checkpoint.Open(path);
        var transformer = new Transformer(checkpoint);
        int vocab = checkpoint.Config.VocabSize;
        var logits = new float[tokens.Length * vocab];
        for (int b = 0; b < sequences; b++)
        {
            var state = transformer.CreateState();
            for (int pos = 0; pos < seqLen; pos++)
                transformer.Forward(tokens[b * seqLen + pos], pos, state).CopyTo(logits.AsSpan((b * seqLen + pos) * vocab, vocab));
        }
        return logits;
    }

    /// <summary>At every position, every logit within 1e-5 of the largest |logit| there (summation order moves them by ~1e-6).</summary>
    static void AssertLogitsClose(float[] expected, float[] actual, int vocab)
    {
        double worst = 0;
        string where = "";
        for (int row = 0; row < expected.Length / vocab; row++)
        {
            var e = expected.AsSpan(row * vocab, vocab);
            var a = actual.AsSpan(row * vocab, vocab);
            float scale = Math.Abs(System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(e));
            for (int j = 0; j < vocab; j++)
            {
                double error = Math.Abs(e[j] - a[j]) / scale;
                if (error > worst) (worst, where) = (error, $"position {row}, logit {j}: engine {a[j]}, trainer {e[j]} (largest |logit| {scale})");
            }
        }
        TestContext.Current.TestOutputHelper?.WriteLine($"largest difference {worst:E2} of the largest |logit|");
        Assert.True(worst <= 1e-5, $"{where}: {worst:E2} of the largest |logit|");
    }

    /// <summary>The fp32 checkpoint versions the export writes: llama2.c's legacy version 0 and version 1.</summary>
    public static TheoryData<int> Fp32Versions => new(0, 1);

    [Theory]
    [MemberData(nameof(Fp32Versions))]
    public void TheEngineRunningTheExportGivesTheTrainersLogits(int version)
    {
        using var temp = new TempDirectory();
        var model = TestModels.WithRandomWeights(Shape, sequences: 3, seed: 21);
        var (tokens, _) = TestModels.RandomTokens(3 * 32, Shape.VocabSize, seed: 22);
        var trainerLogits = new float[tokens.Length * Shape.VocabSize];
        model.Logits(tokens, 3, 32, trainerLogits);

        string path = temp.File($"model-v{version}.bin");
        CheckpointExport.Write(path, model, version);
        using (var checkpoint = Checkpoint.Open(path))
        {
            Assert.Equal(version, checkpoint.Layout.Version);
            Assert.Equal(Shape, checkpoint.Config);
        }
        AssertLogitsClose(trainerLogits, EngineLogits(path, tokens, 3, 32), Shape.VocabSize);
    }

    [Theory]
    [MemberData(nameof(Fp32Versions))]
    public void AnExportReadBackAndExportedAgainIsTheSameFile(int version)
    {
        using var temp = new TempDirectory();
        var model = TestModels.WithRandomWeights(Shape, sequences: 1, seed: 23);
        CheckpointExport.Write(temp.File("first.bin"), model, version);

        Assert.Equal(Shape, CheckpointExport.ReadConfig(temp.File("first.bin")));
        var reloaded = new TrainingModel(Shape, 1);
        CheckpointExport.Read(temp.File("first.bin"), reloaded);
        Assert.Equal(model.Parameters.ToArray(), reloaded.Parameters.ToArray());
        CheckpointExport.Write(temp.File("second.bin"), reloaded, version);
        Assert.Equal(File.ReadAllBytes(temp.File("first.bin")), File.ReadAllBytes(temp.File("second.bin")));
    }

    [Theory]
    [InlineData(64)]
    [InlineData(8)]
    public void VersionTwoIsWhatQuantizingVersionZeroWrites(int groupSize)
    {
        using var temp = new TempDirectory();
        var model = TestModels.WithRandomWeights(Shape, sequences: 1, seed: 25);
        CheckpointExport.Write(temp.File("v0.bin"), model, version: 0);
        var quantized = CheckpointQuantizer.QuantizeFile(temp.File("v0.bin"), temp.File("quantized.bin"), groupSize,
            cancellationToken: TestContext.Current.CancellationToken);

        var layout = CheckpointExport.Write(temp.File("v2.bin"), model, version: 2, groupSize);

        Assert.Equal(2, layout.Version);
        Assert.Equal(quantized.GroupSize, layout.GroupSize);
        Assert.Equal(File.ReadAllBytes(temp.File("quantized.bin")), File.ReadAllBytes(temp.File("v2.bin")));
        Assert.Equal(["quantized.bin", "v0.bin", "v2.bin"], Directory.GetFiles(temp.Path).Select(Path.GetFileName).Order());
    }

    /// <summary>
    /// stories260K (real trained weights, grouped-query attention) read into the trainer: its forward pass gives the
    /// engine's logits on the original file, and its version-0 export is the original file, byte for byte, except
    /// the RoPE tables (which run.c skips; PyTorch computed them with its own cos and sin).
    /// </summary>
    [Fact]
    public void Stories260KReadIntoTheTrainerRunsAsTheEngineRunsItAndExportsAsTheOriginal()
    {
        string original = SharedData.Stories260K;
        using var temp = new TempDirectory();
        var config = CheckpointExport.ReadConfig(original);
        var model = new TrainingModel(config, sequences: 2);
        CheckpointExport.Read(original, model);

        var (tokens, _) = TestModels.RandomTokens(2 * 40, config.VocabSize, seed: 24);
        var trainerLogits = new float[tokens.Length * config.VocabSize];
        model.Logits(tokens, 2, 40, trainerLogits);
        AssertLogitsClose(trainerLogits, EngineLogits(original, tokens, 2, 40), config.VocabSize);

        CheckpointExport.Write(temp.File("model.bin"), model, version: 0);
        var expected = File.ReadAllBytes(original);
        var actual = File.ReadAllBytes(temp.File("model.bin"));
        Assert.Equal(expected.Length, actual.Length);
        var layout = new CheckpointLayout(config, 0);
        long ropeStart = layout.OffsetOf(TensorKind.FreqCisReal), ropeEnd = layout.OffsetOf(TensorKind.FreqCisImag) + layout.ElementCount(TensorKind.FreqCisImag) * 4;
        Assert.Equal(expected.AsSpan(0, (int)ropeStart).ToArray(), actual.AsSpan(0, (int)ropeStart).ToArray());
        Assert.Equal(expected.AsSpan((int)ropeEnd).ToArray(), actual.AsSpan((int)ropeEnd).ToArray());
    }
}

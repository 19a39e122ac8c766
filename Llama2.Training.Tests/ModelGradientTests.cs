using Llama2.Engine.Kernels;
using Llama2.Training.Tests.Reference;
using static Llama2.Training.Tests.GradientCheck;

namespace Llama2.Training.Tests;

/// <summary>
/// The whole model's gradient, as a training step computes it (float, every layer's backward pass chained), against
/// central finite differences of the double-precision reference model's loss, for every parameter of a tiny model and
/// for a sample of a model wide enough for the vector kernels.
/// </summary>
public sealed class ModelGradientTests
{
    [Theory]
    [InlineData(8, 16, 2, 2, 1, 11, 5, 2, 0)]    // the tiny model: every parameter differenced
    [InlineData(32, 48, 2, 2, 1, 19, 9, 2, 700)] // head size 16, rows of whole vectors: a sample of 700 parameters
    public void TrainingStepGradientMatchesFiniteDifferencesOfTheReferenceModel(int dim, int hidden, int layers, int heads, int kvHeads,
        int vocab, int seqLen, int sequences, int sample)
    {
        var config = ModelShape.Create(dim, layers, heads, kvHeads, vocab, seqLen, hiddenDim: hidden);
        var model = TestModels.WithRandomWeights(config, sequences, seed: 7);
        var (inputs, targets) = TestModels.RandomTokens(sequences * seqLen, vocab, seed: 8);

        model.ZeroGradients();
        float loss = model.ForwardBackward(inputs, targets, sequences, seqLen);

        var reference = new ReferenceModel(config);
        var p = ToDouble(model.Parameters);
        double expectedLoss = reference.Loss(p, inputs, targets, sequences, seqLen);
        Assert.True(Math.Abs(loss - expectedLoss) <= 1e-5 * expectedLoss, $"loss {loss}, reference {expectedLoss}");

        var indices = sample == 0 ? null : Enumerable.Range(0, p.Length).OrderBy(i => (i * 2654435761u) % 1000003).Take(sample).ToArray();
        var numerical = Numerical(x => reference.Loss(x, inputs, targets, sequences, seqLen), p, indices);
        var layout = model.Layout;
        foreach (var tensor in layout.Tensors)
        {
            int offset = (int)layout.Offset(tensor), count = (int)layout.ElementCount(tensor);
            var inTensor = (indices ?? Enumerable.Range(0, p.Length)).Where(i => i >= offset && i < offset + count).Select(i => i - offset).ToArray();
            if (inTensor.Length == 0) continue;
            AssertClose(tensor.ToString(), model.Gradients.Slice(offset, count), numerical.AsSpan(offset, count).ToArray(), indices: inTensor);
        }
    }

    [Fact]
    public void MicroBatchesAccumulateToTheGradientOfTheirMean()
    {
        var config = ModelShape.Create(16, 1, 2, 1, 13, 6, hiddenDim: 24);
        var model = TestModels.WithRandomWeights(config, sequences: 2, seed: 9);
        var (inputs, targets) = TestModels.RandomTokens(12, 13, seed: 10);

        model.ZeroGradients();
        float whole = model.ForwardBackward(inputs, targets, 2, 6);
        var expected = model.Gradients.ToArray();

        model.ZeroGradients();
        float first = model.ForwardBackward(inputs.AsSpan(0, 6), targets.AsSpan(0, 6), 1, 6, weight: 0.5f);
        float second = model.ForwardBackward(inputs.AsSpan(6), targets.AsSpan(6), 1, 6, weight: 0.5f);
        Assert.Equal(whole, (first + second) / 2, 1e-6f);
        var accumulated = model.Gradients.ToArray();
        double scale = expected.Max(Math.Abs);
        for (int i = 0; i < expected.Length; i++) Assert.True(Math.Abs(expected[i] - accumulated[i]) <= 1e-5 * scale, $"gradient {i}: {accumulated[i]} vs {expected[i]}");
    }

    [Fact]
    public void AStepGivesTheSameBitsOnOneThreadAsOnTwo()
    {
        var config = ModelShape.Create(64, 2, 4, 2, 67, 33, hiddenDim: 96);
        var model = TestModels.WithRandomWeights(config, sequences: 3, seed: 11);
        var (inputs, targets) = TestModels.RandomTokens(3 * 33, 67, seed: 12);
        int saved = Workers.ThreadCount;
        try
        {
            Workers.ThreadCount = 1;
            model.ZeroGradients();
            float lossOne = model.ForwardBackward(inputs, targets, 3, 33);
            var one = model.Gradients.ToArray();
            Workers.ThreadCount = 2;
            model.ZeroGradients();
            float lossTwo = model.ForwardBackward(inputs, targets, 3, 33);
            Assert.Equal(lossOne, lossTwo);
            Assert.Equal(one, model.Gradients.ToArray());
        }
        finally
        {
            Workers.ThreadCount = saved;
        }
    }

    [Fact]
    public void InitialisationFollowsModelPy()
    {
        var config = ModelShape.Create(64, 4, 4, 2, 97, 16, multipleOf: 32);
        Assert.Equal(192, config.HiddenDim); // 32 · ⌈⌊2 · 256 / 3⌋ / 32⌉ = 32 · ⌈170 / 32⌉
        var model = new TrainingModel(config, 1);
        var random = new TrainingRandom(1337);
        model.Initialize(ref random);
        var layout = model.Layout;
        foreach (var tensor in layout.Tensors)
        {
            var values = layout.View((ReadOnlySpan<float>)model.Parameters, tensor, 0).ToArray();
            if (tensor is TensorKind.RmsAtt or TensorKind.RmsFfn or TensorKind.RmsFinal)
            {
                Assert.All(values, v => Assert.Equal(1f, v));
                continue;
            }
            double expectedStd = tensor is TensorKind.Wo or TensorKind.W3 ? 0.02 / Math.Sqrt(2 * 4) : 0.02;
            double mean = values.Average(v => (double)v);
            double std = Math.Sqrt(values.Average(v => (v - mean) * (v - mean)));
            Assert.True(Math.Abs(std / expectedStd - 1) < 0.1, $"{tensor}: std {std:G3}, expected {expectedStd:G3}");
            Assert.True(Math.Abs(mean) < 0.2 * expectedStd, $"{tensor}: mean {mean:G3}");
        }
    }
}

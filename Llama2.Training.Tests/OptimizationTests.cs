using Llama2.Training.Batches;
using Llama2.Training.Optimization;

namespace Llama2.Training.Tests;

/// <summary>AdamW, the learning-rate schedule, gradient clipping and the batches, against their definitions.</summary>
public sealed class OptimizationTests
{
    [Fact]
    public void AdamWFollowsPyTorchsUpdateAndDecaysOnlyTheTwoDimensionalWeights()
    {
        const int count = 50, decayStart = 13;
        var random = new Random(1);
        var p = GradientCheck.RandomFloats(random, count);
        var adam = new AdamW(count, decayStart, beta1: 0.9f, beta2: 0.95f, epsilon: 1e-8f, weightDecay: 0.1f);
        // torch.optim.AdamW's step, in double: p *= 1 − lr·wd (decayed group only); m, v; p −= lr/(1−β1^t) · m / (√v/√(1−β2^t) + ε).
        var expected = GradientCheck.ToDouble(p);
        double[] m = new double[count], v = new double[count];
        for (int t = 1; t <= 3; t++)
        {
            var g = GradientCheck.RandomFloats(random, count);
            float lr = 1e-2f * t;
            adam.Step(p, g, lr);
            for (int i = 0; i < count; i++)
            {
                if (i >= decayStart) expected[i] *= 1 - lr * 0.1;
                m[i] = 0.9 * m[i] + 0.1 * g[i];
                v[i] = 0.95 * v[i] + 0.05 * g[i] * g[i];
                expected[i] -= lr / (1 - Math.Pow(0.9, t)) * m[i] / (Math.Sqrt(v[i]) / Math.Sqrt(1 - Math.Pow(0.95, t)) + 1e-8);
            }
        }
        Assert.Equal(3, adam.StepCount);
        for (int i = 0; i < count; i++) Assert.Equal(expected[i], p[i], 1e-5);
    }

    [Fact]
    public void AZeroGradientStillDecaysOnlyTheWeights()
    {
        var p = Enumerable.Repeat(1f, 8).ToArray();
        new AdamW(8, decayStart: 4, weightDecay: 0.5f).Step(p, new float[8], lr: 0.1f);
        Assert.Equal([1f, 1f, 1f, 1f, 0.95f, 0.95f, 0.95f, 0.95f], p);
    }

    [Fact]
    public void LearningRateWarmsUpLinearlyThenFollowsAHalfCosine()
    {
        var schedule = new LearningRateSchedule(PeakRate: 1f, WarmupSteps: 10, DecaySteps: 110, MinRate: 0.1f);
        Assert.Equal(0.1f, schedule.At(0), 6);   // (0 + 1) / 10
        Assert.Equal(1f, schedule.At(9), 6);
        Assert.Equal(1f, schedule.At(10), 6);    // the cosine starts at the peak
        Assert.Equal(0.55f, schedule.At(60), 6); // half way: min + (peak − min) / 2
        Assert.Equal(0.1f, schedule.At(110), 6);
        Assert.Equal(0.1f, schedule.At(500), 6);
        Assert.True(schedule.At(30) > schedule.At(31));
    }

    [Fact]
    public void ClippingScalesTheGlobalNormDownToTheMaximumAndLeavesSmallerOnesAlone()
    {
        var g = Enumerable.Range(0, 40000).Select(i => (i % 7 - 3) * 0.01f).ToArray(); // over several blocks
        double norm = Math.Sqrt(g.Sum(x => (double)x * x));
        var clipped = (float[])g.Clone();
        Assert.Equal(norm, GradientClipping.Clip(clipped, 1f), 4);
        Assert.Equal(1.0, Math.Sqrt(clipped.Sum(x => (double)x * x)), 4);
        var kept = (float[])g.Clone();
        GradientClipping.Clip(kept, (float)norm * 2);
        Assert.Equal(g, kept);
    }

    [Fact]
    public void BatchesAreWindowsOfTheSourceWithTargetsOneAheadAndRepeatFromTheSameState()
    {
        var tokens = Enumerable.Range(0, 1000).ToArray();
        var batches = new BatchSampler(new TokenArray(tokens), sequences: 3, seqLen: 8, new TrainingRandom(5));
        var state = batches.Random.State;
        batches.Next();
        var first = batches.Inputs.ToArray();
        for (int b = 0; b < 3; b++)
            for (int i = 0; i < 8; i++)
            {
                Assert.Equal(batches.Inputs[b * 8] + i, batches.Inputs[b * 8 + i]);      // consecutive tokens
                Assert.Equal(batches.Inputs[b * 8 + i] + 1, batches.Targets[b * 8 + i]); // the next token
            }
        batches.Random.State = state;
        batches.Next();
        Assert.Equal(first, batches.Inputs);
    }

    [Theory]
    [InlineData(TokenDataType.UInt16, 65535)]
    [InlineData(TokenDataType.Int32, 100_000)]
    public void ATokenFileReadsBackWhatThePretokenizersWriterWroteAndAPartialTokenIsRefused(TokenDataType type, int largest)
    {
        using var temp = new TempDirectory();
        int[] tokens = [1, 0, largest, 300, 2];
        TestCorpus.Write(temp.File("t.bin"), tokens, type);
        using (var file = TokenFile.Open(temp.File("t.bin"), type))
        {
            Assert.Equal(5, file.Count);
            var read = new int[4];
            file.CopyTo(1, read);
            Assert.Equal(tokens[1..], read);
        }
        File.WriteAllBytes(temp.File("odd.bin"), [1, 0, 2]);
        Assert.Throws<InvalidDataException>(() => TokenFile.Open(temp.File("odd.bin"), type));
        Assert.Throws<FileNotFoundException>(() => TokenFile.Open(temp.File("missing.bin"), type));
    }
}

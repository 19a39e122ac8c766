using Llama2.Training.Layers;
using Llama2.Training.Tests.Reference;
using static Llama2.Training.Tests.GradientCheck;

namespace Llama2.Training.Tests;

/// <summary>
/// Each operation's float forward pass against the double-precision reference, and its float backward pass against
/// central finite differences of the reference, on shapes small enough to difference every input yet long enough
/// that the kernels' vector paths, leftover columns and leftover rows all run. The scalar loss is Σ dy ⊙ y for a
/// random dy, so every output's gradient path counts.
/// </summary>
public sealed class LayerGradientTests
{
    static float[] Transposed(float[] w, int rows, int cols)
    {
        var t = new float[w.Length];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) t[j * rows + i] = w[i * cols + j];
        return t;
    }

    [Fact]
    public void LinearForwardAndBothBackwardProducts()
    {
        const int tokens = 13, n = 40, d = 37;
        var random = new Random(1);
        float[] x = RandomFloats(random, tokens * n), w = RandomFloats(random, d * n), dy = RandomFloats(random, tokens * d);

        var y = new float[tokens * d];
        Linear.Forward(y, x, Transposed(w, d, n), tokens, n, d);
        AssertValuesClose("y", y, ReferenceOps.Linear(ToDouble(x), ToDouble(w), tokens, n, d));

        var dx = new float[tokens * n];
        Linear.BackwardInput(dx, dy, w, tokens, n, d, accumulate: false);
        var wd = ToDouble(w);
        AssertClose("dx", dx, Numerical(xd => Dot(ReferenceOps.Linear(xd, wd, tokens, n, d), dy), ToDouble(x)));

        // dW accumulates: start from a known gradient and expect it plus this batch's.
        var start = RandomFloats(random, d * n);
        var dw = (float[])start.Clone();
        Linear.BackwardWeight(dw, dy, x, tokens, n, d);
        var xd2 = ToDouble(x);
        var numerical = Numerical(w2 => Dot(ReferenceOps.Linear(xd2, w2, tokens, n, d), dy), ToDouble(w));
        for (int i = 0; i < numerical.Length; i++) numerical[i] += start[i];
        AssertClose("dW", dw, numerical);
    }

    [Fact]
    public void RmsNormForwardAndBackward()
    {
        const int tokens = 5, dim = 40;
        var random = new Random(2);
        float[] x = RandomFloats(random, tokens * dim), w = RandomFloats(random, dim), dy = RandomFloats(random, tokens * dim);
        for (int i = 0; i < dim; i++) w[i] += 1f;

        var y = new float[tokens * dim];
        var rstd = new float[tokens];
        RmsNorm.Forward(y, rstd, x, w, tokens, dim);
        AssertValuesClose("y", y, ReferenceOps.RmsNorm(ToDouble(x), ToDouble(w), tokens, dim));

        float[] dx = new float[tokens * dim], dw = new float[dim];
        RmsNorm.Backward(dx, dw, dy, x, w, rstd, tokens, dim);
        double[] xd = ToDouble(x), wd = ToDouble(w);
        AssertClose("dx", dx, Numerical(v => Dot(ReferenceOps.RmsNorm(v, wd, tokens, dim), dy), xd));
        AssertClose("dw", dw, Numerical(v => Dot(ReferenceOps.RmsNorm(xd, v, tokens, dim), dy), wd));
    }

    [Fact]
    public void RopeForwardAndBackward()
    {
        const int seqLen = 6, tokens = 2 * seqLen, headSize = 8, width = 2 * headSize;
        var random = new Random(3);
        float[] x = RandomFloats(random, tokens * width), dy = RandomFloats(random, tokens * width);
        var rope = new Rope(headSize, 16);

        var y = (float[])x.Clone();
        rope.Forward(y, tokens, width, seqLen);
        AssertValuesClose("y", y, ReferenceOps.Rope(ToDouble(x), tokens, width, headSize, seqLen));

        var dx = (float[])dy.Clone();
        rope.Backward(dx, tokens, width, seqLen);
        AssertClose("dx", dx, Numerical(v => Dot(ReferenceOps.Rope(v, tokens, width, headSize, seqLen), dy), ToDouble(x)));
    }

    [Theory]
    [InlineData(2, 7, 4, 2, 6)]   // grouped-query: two query heads per key/value head, two sequences
    [InlineData(1, 37, 2, 1, 20)] // long enough for whole vectors of scores and of head dimensions
    [InlineData(1, 9, 3, 3, 4)]   // one key/value head per query head
    public void CausalGroupedQueryAttentionForwardAndBackward(int sequences, int seqLen, int heads, int kvHeads, int headSize)
    {
        var s = new Attention.Shape(sequences, seqLen, heads, kvHeads, headSize);
        int tokens = s.Tokens;
        var random = new Random(4);
        float[] q = RandomFloats(random, tokens * s.Dim), k = RandomFloats(random, tokens * s.KvDim), v = RandomFloats(random, tokens * s.KvDim);
        var dOut = RandomFloats(random, tokens * s.Dim);

        var output = new float[tokens * s.Dim];
        var probabilities = new float[s.ProbabilityCount];
        Attention.Forward(s, q, k, v, output, probabilities, new float[s.ForwardScratch]);
        double[] qd = ToDouble(q), kd = ToDouble(k), vd = ToDouble(v);
        AssertValuesClose("output", output, ReferenceOps.Attention(qd, kd, vd, sequences, seqLen, heads, kvHeads, headSize));

        float[] dq = new float[q.Length], dk = new float[k.Length], dv = new float[v.Length];
        Attention.Backward(s, dOut, q, k, v, probabilities, dq, dk, dv, new float[s.BackwardScratch]);
        double F(double[] q2, double[] k2, double[] v2) => Dot(ReferenceOps.Attention(q2, k2, v2, sequences, seqLen, heads, kvHeads, headSize), dOut);
        AssertClose("dq", dq, Numerical(x => F(x, kd, vd), qd));
        AssertClose("dk", dk, Numerical(x => F(qd, x, vd), kd));
        AssertClose("dv", dv, Numerical(x => F(qd, kd, x), vd));
    }

    [Fact]
    public void SwiGluForwardAndBackward()
    {
        const int tokens = 3, width = 37;
        var random = new Random(5);
        float[] h1 = RandomFloats(random, tokens * width, 4f), h3 = RandomFloats(random, tokens * width), dg = RandomFloats(random, tokens * width);

        var g = new float[h1.Length];
        var sigmoid = new float[h1.Length];
        SwiGlu.Forward(g, sigmoid, h1, h3, tokens, width);
        double[] h1d = ToDouble(h1), h3d = ToDouble(h3);
        AssertValuesClose("g", g, ReferenceOps.SwiGlu(h1d, h3d));

        // dh1 written over dg, as the model does.
        var dh1 = (float[])dg.Clone();
        var dh3 = new float[h1.Length];
        SwiGlu.Backward(dh1, dh3, dh1, h1, h3, sigmoid, tokens, width);
        AssertClose("dh1", dh1, Numerical(x => Dot(ReferenceOps.SwiGlu(x, h3d), dg), h1d));
        AssertClose("dh3", dh3, Numerical(x => Dot(ReferenceOps.SwiGlu(h1d, x), dg), h3d));
    }

    [Fact]
    public void CrossEntropyLossAndGradient()
    {
        const int rows = 5, vocab = 37;
        var random = new Random(6);
        var logits = RandomFloats(random, rows * vocab, 3f);
        int[] targets = [0, 36, 5, 5, 17];
        var expected = ReferenceOps.CrossEntropy(ToDouble(logits), targets, vocab);

        var losses = new float[rows];
        CrossEntropy.Run((float[])logits.Clone(), targets, losses, rows, vocab, gradientScale: null);
        AssertValuesClose("losses", losses, expected);

        var gradient = (float[])logits.Clone();
        CrossEntropy.Run(gradient, targets, losses, rows, vocab, gradientScale: 1f / rows);
        AssertValuesClose("losses", losses, expected);
        AssertClose("dlogits", gradient, Numerical(x => ReferenceOps.CrossEntropy(x, targets, vocab).Average(), ToDouble(logits)));
    }

    [Fact]
    public void CrossEntropyRejectsATargetOutsideTheVocabulary()
    {
        var logits = new float[2 * 4];
        Assert.Throws<ArgumentOutOfRangeException>(() => CrossEntropy.Run(logits, [1, 4], new float[2], 2, 4, 1f));
    }
}

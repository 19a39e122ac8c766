using Llama2.Engine.Kernels;

namespace Llama2.Engine.Tests.Kernels;

/// <summary>
/// The int8 (Q8_0) matmuls against runq.c's arithmetic written out plainly here: at every width, for one token and for
/// batches, bit for bit.
/// </summary>
public sealed unsafe class Q8KernelTests
{
    public static TheoryData<int> Widths => new() { 16, 8, 4, 1 };

    // (n, rows, tokens, group size): rows not a multiple of the 16-row block, batches that leave tiles of 4, 2 and 1
    // tokens, groups of 8 to 128, and rows longer than one packed panel (1024 columns).
    static readonly (int N, int Rows, int Tokens, int GroupSize)[] Sizes =
        [(64, 1, 1, 64), (64, 16, 2, 32), (48, 37, 3, 16), (128, 33, 7, 64), (96, 20, 8, 32), (256, 5, 13, 128),
         (2048 + 64, 18, 9, 64), (32, 40, 6, 8), (160, 3, 5, 32), (192, 35, 3, 64)];

    /// <summary>A random Q8_0 matrix: values in [−127, 127], scales around 0.01, one group of zeros with scale 0.</summary>
    sealed class Matrix
    {
        public readonly sbyte[] Values;
        public readonly float[] Scales;
        public readonly int Rows, Columns, GroupSize;

        public Matrix(Random random, int rows, int columns, int groupSize)
        {
            (Rows, Columns, GroupSize) = (rows, columns, groupSize);
            Values = new sbyte[rows * columns];
            Scales = new float[rows * columns / groupSize];
            for (int i = 0; i < Values.Length; i++) Values[i] = (sbyte)random.Next(-127, 128);
            for (int i = 0; i < Scales.Length; i++) Scales[i] = (float)random.NextDouble() * 0.02f;
            Values.AsSpan(0, groupSize).Clear();
            Scales[0] = 0f;
        }

        public WeightMatrix Pin(out System.Runtime.InteropServices.GCHandle values, out System.Runtime.InteropServices.GCHandle scales)
        {
            values = System.Runtime.InteropServices.GCHandle.Alloc(Values, System.Runtime.InteropServices.GCHandleType.Pinned);
            scales = System.Runtime.InteropServices.GCHandle.Alloc(Scales, System.Runtime.InteropServices.GCHandleType.Pinned);
            return WeightMatrix.Q8_0((sbyte*)values.AddrOfPinnedObject(), (float*)scales.AddrOfPinnedObject(), Rows, Columns, GroupSize);
        }
    }

    /// <summary>Activations with a group of zeros and an exact tie (x / scale = 0.5) in them.</summary>
    static float[] Activations(Random random, int n, int tokens, int groupSize)
    {
        var x = new float[n * tokens];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(random.NextDouble() * 2 - 1) * 3f;
        if (x.Length >= 2 * groupSize) x.AsSpan(groupSize, groupSize).Clear();
        if (n * tokens >= 3 * groupSize)
        {
            // max 127 → scale 1: 0.5 and -2.5 round away from zero to 1 and -3 (to even they would be 0 and -2).
            var g = x.AsSpan(2 * groupSize, groupSize);
            g.Clear();
            g[0] = 127f;
            g[1] = 0.5f;
            g[2] = -2.5f;
        }
        return x;
    }

    /// <summary>runq.c's quantize and matmul, as written there.</summary>
    static float[] RunQ(Matrix w, float[] x, int tokens)
    {
        int n = w.Columns, gs = w.GroupSize, groups = n / gs;
        var result = new float[tokens * w.Rows];
        var xq = new sbyte[n];
        var xs = new float[groups];
        for (int t = 0; t < tokens; t++)
        {
            for (int g = 0; g < groups; g++)
            {
                float wmax = 0f;
                for (int i = 0; i < gs; i++) wmax = Math.Max(wmax, Math.Abs(x[t * n + g * gs + i]));
                float scale = wmax / 127.0f;
                xs[g] = scale;
                for (int i = 0; i < gs; i++)
                    xq[g * gs + i] = scale == 0f ? (sbyte)0 : (sbyte)MathF.Round(x[t * n + g * gs + i] / scale, MidpointRounding.AwayFromZero);
            }
            for (int r = 0; r < w.Rows; r++)
            {
                float val = 0f;
                for (int g = 0; g < groups; g++)
                {
                    int ival = 0;
                    for (int k = 0; k < gs; k++) ival += xq[g * gs + k] * w.Values[r * n + g * gs + k];
                    val += ((float)ival) * w.Scales[r * groups + g] * xs[g];
                }
                result[t * w.Rows + r] = val;
            }
        }
        return result;
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Gemm_equals_runq_bitwise_for_one_token_and_for_batches(int width)
    {
        var random = new Random(width);
        var quantized = new QuantizedActivations();
        foreach (var (n, rows, tokens, gs) in Sizes)
        {
            if (width > 1 && Q8Simd.WidthFor(gs, width) != width) continue; // a group this width's vectors straddle
            var m = new Matrix(random, rows, n, gs);
            var x = Activations(random, n, tokens, gs);
            var expected = RunQ(m, x, tokens);
            var w = m.Pin(out var hv, out var hs);
            try
            {
                var batch = new float[rows * tokens];
                MatMul.Single(Epilogue.Store, x, tokens, w, default, batch, quantized, width);
                Bitwise.AssertEqual(expected, batch, $"width {width}, n {n}, rows {rows}, {tokens} tokens, group size {gs}");
                for (int t = 0; t < tokens; t++)
                {
                    var single = new float[rows];
                    MatMul.Single(Epilogue.Store, x.AsSpan(t * n, n), 1, w, default, single, quantized, width);
                    Bitwise.AssertEqual(expected.AsSpan(t * rows, rows), single, $"width {width}, n {n}, rows {rows}, token {t}, group size {gs}");
                }
            }
            finally
            {
                hv.Free();
                hs.Free();
            }
        }
    }

    /// <summary>
    /// q/k/v in one dispatch, SwiGLU and a projection added to the residual, at every width, for one token and for a
    /// batch, against the plain matmuls; large enough to be split across the threads, with chunks that straddle q, k and v.
    /// </summary>
    [Theory]
    [MemberData(nameof(Widths))]
    public void Fused_operations_equal_their_steps_bitwise(int width)
    {
        const int n = 256, gs = 32, dq = 300, dk = 100, hidden = 180;
        var random = new Random(40 + width);
        Matrix mq = new(random, dq, n, gs), mk = new(random, dk, n, gs), mv = new(random, dk, n, gs);
        Matrix m1 = new(random, hidden, n, gs), m3 = new(random, hidden, n, gs);
        var handles = new List<System.Runtime.InteropServices.GCHandle>();
        WeightMatrix Pin(Matrix m)
        {
            var w = m.Pin(out var hv, out var hs);
            handles.Add(hv);
            handles.Add(hs);
            return w;
        }
        WeightMatrix wq = Pin(mq), wk = Pin(mk), wv = Pin(mv), w1 = Pin(m1), w3 = Pin(m3);
        var quantized = new QuantizedActivations();
        try
        {
            foreach (int tokens in new[] { 1, 3, 8 })
            {
                var x = Activations(random, n, tokens, gs);
                float[] q = new float[dq * tokens], k = new float[dk * tokens], v = new float[dk * tokens];
                MatMul.Gemm3(x, tokens, wq, q, wk, k, wv, v, quantized, width);
                Bitwise.AssertEqual(RunQ(mq, x, tokens), q, $"q, {tokens} tokens");
                Bitwise.AssertEqual(RunQ(mk, x, tokens), k, $"k, {tokens} tokens");
                Bitwise.AssertEqual(RunQ(mv, x, tokens), v, $"v, {tokens} tokens");

                var h = new float[hidden * tokens];
                MatMul.Single(Epilogue.SwiGlu, x, tokens, w1, w3, h, quantized, width);
                float[] h1 = RunQ(m1, x, tokens), h3 = RunQ(m3, x, tokens);
                Ops.SwiGlu(h1, h3);
                Bitwise.AssertEqual(h1, h, $"swiglu, {tokens} tokens");

                var residual = Activations(random, dq, tokens, gs);
                var added = residual.ToArray();
                MatMul.Single(Epilogue.Add, x, tokens, wq, default, added, quantized, width);
                var expected = RunQ(mq, x, tokens);
                for (int i = 0; i < expected.Length; i++) expected[i] += residual[i];
                Bitwise.AssertEqual(expected, added, $"x += w · x, {tokens} tokens");
            }
        }
        finally
        {
            foreach (var handle in handles) handle.Free();
        }
    }

    [Fact]
    public void Activations_are_quantized_as_runq_does()
    {
        var quantized = new QuantizedActivations();
        // Group 1: max 127 → scale 1, and ties round away from zero (C's round): 0.5 → 1, −1.5 → −2, 2.5 → 3 (ties to
        // even would give 0, −2, 2); 0.4999 → 0. Group 2: max 2.54 → scale 0.02. Group 3: zeros → scale 0, values 0.
        float[] x = [127f, 0.5f, -1.5f, 2.5f, 0.4999f, .. new float[11], -2.54f, 1.27f, .. new float[14], .. new float[16]];
        quantized.Quantize(x, 48, 1, 16);
        Assert.Equal([1f, 2.54f / 127f, 0f], new[] { quantized.Scales[0], quantized.Scales[1], quantized.Scales[2] });
        Assert.Equal([127, 1, -2, 3, 0], Enumerable.Range(0, 5).Select(i => (int)quantized.Values[i]));
        Assert.Equal(-127, quantized.Values[16]);
        Assert.Equal(64, quantized.Values[17]); // 1.27 / 0.02
        for (int i = 32; i < 48; i++) Assert.Equal(0, quantized.Values[i]);
    }

    /// <summary>
    /// An int8 model: a prompt through Prefill, and a batch of several sequences, give bit for bit the logits of feeding
    /// the tokens one at a time (decoding's kernels against the batches' packed ones).
    /// </summary>
    [Theory]
    [InlineData(64, 172, 4, 2, 40)]   // group size 4 (hidden 172 = 4 · 43): runq.c's scalar loop
    [InlineData(96, 256, 6, 3, 130)]  // group size 32; the prompt spans two prefill batches
    [InlineData(128, 384, 4, 4, 9)]   // group size 64
    public void Int8_prefill_gives_the_logits_of_token_by_token_forward_bitwise(int dim, int hidden, int heads, int kvHeads, int promptLength)
    {
        var config = new Llama2.Engine.Model.ModelConfig(dim, hidden, 2, heads, kvHeads, VocabSize: 97, SeqLen: 160, SharedClassifier: false);
        using var dir = new TempDirectory();
        string path = dir.File("model.bin");
        Llama2.Engine.Model.CheckpointWriter.WriteRandom(path, config, version: 1, seed: 9);
        using var fp32 = Llama2.Engine.Model.Checkpoint.Open(path);
        using var q8 = Llama2.Engine.Model.Checkpoint.QuantizeInMemory(fp32, cancellationToken: TestContext.Current.CancellationToken);
        var transformer = new Llama2.Engine.Inference.Transformer(q8);
        Assert.Equal(WeightFormat.Q8_0, transformer.Format);
        var random = new Random(5);
        var prompt = Enumerable.Range(0, promptLength).Select(_ => random.Next(config.VocabSize)).ToArray();

        var stepped = transformer.CreateState();
        var expected = new List<float[]>();
        for (int pos = 0; pos < prompt.Length; pos++) expected.Add(transformer.Forward(prompt[pos], pos, stepped).ToArray());

        var batched = transformer.CreateState();
        Bitwise.AssertEqual(expected[^1], transformer.Prefill(prompt, 0, batched), "logits after the prompt");
        Bitwise.AssertEqual(transformer.Forward(5, prompt.Length, stepped), transformer.Forward(5, prompt.Length, batched), "next token");

        // Three sequences stepped together, each at its own position, as the scheduler runs them.
        var states = Enumerable.Range(0, 3).Select(_ => transformer.CreateState()).ToArray();
        var batch = new Llama2.Engine.Inference.TokenBatch(config, 3, 3);
        for (int step = 0; step < Math.Min(12, prompt.Length); step++)
        {
            batch.Clear();
            for (int s = 0; s < 3; s++)
                if (step >= s) batch.Add(states[s], prompt[step - s], step - s, logits: true);
            transformer.Forward(batch);
            for (int s = 0, index = 0; s < 3; s++)
                if (step >= s) Bitwise.AssertEqual(expected[step - s], batch.Logits(index++), $"sequence {s} at position {step - s}");
        }
    }
}

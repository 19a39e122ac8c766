using Llama2.Engine.Kernels;

namespace Llama2.Engine.Tests.Kernels;

/// <summary>
/// The determinism contract of the kernels: a batch of tokens (GEMM, prefill) gives bit for bit what the same tokens
/// give one at a time (matrix × vector, Forward), at every vector width.
/// </summary>
public sealed class KernelTests
{
    public static TheoryData<int> Widths => new() { 16, 8, 4, 1 };

    // Sizes that are not multiples of the vector width (n) or of the tiles (d, tokens), batches of 7, 8 and 16, and a
    // prompt-sized batch over more rows than one panel (30 tokens, 38 blocks of 4: panels of 16, 16 and 6).
    static readonly (int N, int D, int Tokens)[] Sizes =
        [(1, 1, 1), (7, 3, 2), (16, 4, 4), (17, 5, 5), (33, 13, 9), (100, 37, 6), (293, 41, 11), (768, 8, 4), (50, 9, 8), (768, 12, 8), (64, 7, 7), (40, 6, 16), (48, 150, 30)];

    static float[] RandomArray(Random random, int length)
    {
        var a = new float[length];
        for (int i = 0; i < length; i++) a[i] = (float)random.NextDouble() * 2f - 1f;
        return a;
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Gemm_rows_equal_matvec_bitwise(int width)
    {
        var random = new Random(width);
        foreach (var (n, d, tokens) in Sizes)
        {
            var w = RandomArray(random, n * d);
            var x = RandomArray(random, n * tokens);
            var batch = new float[d * tokens];
            MatMul.Gemm(width, batch, x, w, n, d, tokens);
            for (int t = 0; t < tokens; t++)
            {
                var single = new float[d];
                MatMul.Gemm(width, single, x.AsSpan(t * n, n), w, n, d, 1);
                Bitwise.AssertEqual(single, batch.AsSpan(t * d, d), $"width {width}, n {n}, d {d}, token {t} of {tokens}");
                for (int i = 0; i < d; i++)
                {
                    double reference = 0;
                    for (int k = 0; k < n; k++) reference += (double)w[i * n + k] * x[t * n + k];
                    Assert.True(Math.Abs(reference - single[i]) <= 1e-5 * n, $"row {i}: {single[i]} vs {reference}");
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Fused_kernels_equal_their_unfused_steps_bitwise(int width)
    {
        var random = new Random(100 + width);
        foreach (var (n, d, tokens) in Sizes)
        {
            var x = RandomArray(random, n * tokens);
            var w1 = RandomArray(random, n * d);
            var w3 = RandomArray(random, n * d);
            var w2 = RandomArray(random, n * (d + 2));

            // SwiGLU: silu(w1 · x) ⊙ (w3 · x), one token at a time from plain matvecs.
            var fused = new float[d * tokens];
            MatMul.SwiGlu(width, fused, x, w1, w3, n, d, tokens);
            // q/k/v in one dispatch.
            float[] q = new float[d * tokens], k = new float[(d + 2) * tokens], v = new float[d * tokens];
            MatMul.Gemm3(width, x, n, tokens, w1, q, d, w2, k, d + 2, w3, v, d);
            // A projection added to a residual stream.
            var residual = RandomArray(random, d * tokens);
            var added = residual.ToArray();
            MatMul.GemmAdd(width, added, x, w1, n, d, tokens);

            for (int t = 0; t < tokens; t++)
            {
                var xt = x.AsSpan(t * n, n);
                float[] h1 = new float[d], h3 = new float[d], h2 = new float[d + 2];
                MatMul.Gemm(width, h1, xt, w1, n, d, 1);
                MatMul.Gemm(width, h3, xt, w3, n, d, 1);
                MatMul.Gemm(width, h2, xt, w2, n, d + 2, 1);
                Bitwise.AssertEqual(h1, q.AsSpan(t * d, d), "q");
                Bitwise.AssertEqual(h2, k.AsSpan(t * (d + 2), d + 2), "k");
                Bitwise.AssertEqual(h3, v.AsSpan(t * d, d), "v");
                var sum = residual.AsSpan(t * d, d).ToArray();
                for (int i = 0; i < d; i++) sum[i] += h1[i];
                Bitwise.AssertEqual(sum, added.AsSpan(t * d, d), "x += w · x");
                Ops.SwiGlu(h1, h3);
                Bitwise.AssertEqual(h1, fused.AsSpan(t * d, d), "swiglu");
            }
        }
    }

    /// <summary>
    /// One token's matmuls large enough to be split across the threads, with chunks that start in one of q, k and v
    /// and end in the next: decoding's row-by-row path gives the bits of the batched tiles (a batch of two tokens).
    /// </summary>
    [Fact]
    public void One_token_split_across_the_threads_gives_the_bits_of_a_batch()
    {
        const int n = 256, dq = 300, dk = 100, dv = 100, hidden = 700;
        var random = new Random(21);
        var x = RandomArray(random, 2 * n);
        float[] wq = RandomArray(random, n * dq), wk = RandomArray(random, n * dk), wv = RandomArray(random, n * dv);
        float[] w1 = RandomArray(random, n * hidden), w3 = RandomArray(random, n * hidden);
        var residual = RandomArray(random, 2 * dq);

        float[] q1 = new float[dq], k1 = new float[dk], v1 = new float[dv], q2 = new float[2 * dq], k2 = new float[2 * dk], v2 = new float[2 * dv];
        MatMul.Gemm3(x.AsSpan(0, n), n, 1, wq, q1, dq, wk, k1, dk, wv, v1, dv);
        MatMul.Gemm3(x, n, 2, wq, q2, dq, wk, k2, dk, wv, v2, dv);
        Bitwise.AssertEqual(q2.AsSpan(0, dq), q1, "q");
        Bitwise.AssertEqual(k2.AsSpan(0, dk), k1, "k");
        Bitwise.AssertEqual(v2.AsSpan(0, dv), v1, "v");

        float[] h1 = new float[hidden], h2 = new float[2 * hidden];
        MatMul.SwiGlu(h1, x.AsSpan(0, n), w1, w3, n, hidden, 1);
        MatMul.SwiGlu(h2, x, w1, w3, n, hidden, 2);
        Bitwise.AssertEqual(h2.AsSpan(0, hidden), h1, "swiglu");

        float[] added1 = residual[..dq], added2 = residual.ToArray();
        MatMul.GemmAdd(added1, x.AsSpan(0, n), wq, n, dq, 1);
        MatMul.GemmAdd(added2, x, wq, n, dq, 2);
        Bitwise.AssertEqual(added2.AsSpan(0, dq), added1, "x += w · x");
    }

    /// <summary>
    /// A prompt's q/k/v large enough to be split across the threads in chunks that start inside one projection and end
    /// in the next, each chunk run in panels: every token gets the bits it gets alone.
    /// </summary>
    [Fact]
    public void A_prompt_split_across_the_threads_in_panels_gives_each_token_its_own_bits()
    {
        const int n = 256, dq = 300, dk = 100, dv = 100, tokens = 30;
        var random = new Random(22);
        var x = RandomArray(random, tokens * n);
        float[] wq = RandomArray(random, n * dq), wk = RandomArray(random, n * dk), wv = RandomArray(random, n * dv);
        float[] q = new float[tokens * dq], k = new float[tokens * dk], v = new float[tokens * dv];
        MatMul.Gemm3(x, n, tokens, wq, q, dq, wk, k, dk, wv, v, dv);
        for (int t = 0; t < tokens; t++)
        {
            float[] q1 = new float[dq], k1 = new float[dk], v1 = new float[dv];
            MatMul.Gemm3(x.AsSpan(t * n, n), n, 1, wq, q1, dq, wk, k1, dk, wv, v1, dv);
            Bitwise.AssertEqual(q1, q.AsSpan(t * dq, dq), $"q of token {t}");
            Bitwise.AssertEqual(k1, k.AsSpan(t * dk, dk), $"k of token {t}");
            Bitwise.AssertEqual(v1, v.AsSpan(t * dv, dv), $"v of token {t}");
        }
    }

    /// <summary>
    /// Weights that start part-way into a cache line (llama2.c's legacy checkpoints put every row 7 floats in) go
    /// through the AVX-512 kernels that load whole lines and shift the rows into place: they must give bit for bit
    /// what the same weights give on a line boundary, for every offset and every tile (1, 4, 5 and 8 tokens).
    /// </summary>
    [Fact]
    public unsafe void Weights_inside_a_cache_line_give_the_same_bits_as_aligned_weights()
    {
        const int n = 64, d = 10; // rows a whole number of lines apart; the last block is 2 rows
        var random = new Random(7);
        var w = RandomArray(random, n * d);
        var x = RandomArray(random, n * 8);
        float* buffer = (float*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)((n * d + 16) * sizeof(float)), 64);
        try
        {
            foreach (int tokens in new[] { 1, 4, 5, 8 })
            {
                var expected = new float[d * tokens];
                var aligned = new Span<float>(buffer, n * d);
                w.CopyTo(aligned);
                MatMul.Gemm(16, expected, x.AsSpan(0, n * tokens), aligned, n, d, tokens);
                for (int offset = 1; offset < 16; offset++)
                {
                    var shifted = new Span<float>(buffer + offset, n * d);
                    w.CopyTo(shifted);
                    var actual = new float[d * tokens];
                    MatMul.Gemm(16, actual, x.AsSpan(0, n * tokens), shifted, n, d, tokens);
                    Bitwise.AssertEqual(expected, actual, $"{tokens} tokens, weights {offset} floats into a line");
                }
            }
        }
        finally
        {
            System.Runtime.InteropServices.NativeMemory.AlignedFree(buffer);
        }
    }

    /// <summary>
    /// One attention head gives bit for bit its unfused steps: each score the same dot product as a matrix × vector of
    /// that key row, scaled, softmax, then each output element the positions' values summed in order by fused
    /// multiply-adds. Head sizes around the vector widths, and cache lengths around the kernels' row groups.
    /// </summary>
    [Theory]
    [MemberData(nameof(Widths))]
    public unsafe void Attention_head_equals_its_unfused_steps_bitwise(int width)
    {
        var random = new Random(11);
        foreach (int headSize in new[] { 8, 20, 48, 64, 96, 128 })
            foreach (int len in new[] { 1, 3, 4, 5, 15, 16, 17, 33, 100 })
            {
                int stride = headSize * 3; // the cache's kv_dim: three kv heads, this one in the middle
                var q = RandomArray(random, headSize);
                var cache = RandomArray(random, len * stride * 2);
                var output = new float[headSize];
                var att = new float[len];
                fixed (float* pq = q, pc = cache, po = output, pa = att)
                    Attention.Head(width, pq, pc + headSize, pc + len * stride + headSize, stride, len, headSize, pa, po);

                var scores = new float[len];
                for (int t = 0; t < len; t++)
                {
                    var key = cache.AsSpan(t * stride + headSize, headSize);
                    MatMul.Gemm(width, scores.AsSpan(t, 1), q, key, headSize, 1, 1);
                    scores[t] *= 1f / MathF.Sqrt(headSize);
                }
                Ops.Softmax(scores);
                var expected = new float[headSize];
                for (int i = 0; i < headSize; i++)
                {
                    float o = 0f;
                    for (int t = 0; t < len; t++) o = MathF.FusedMultiplyAdd(cache[len * stride + t * stride + headSize + i], scores[t], o);
                    expected[i] = o;
                }
                Bitwise.AssertEqual(scores, att, $"scores, width {width}, head size {headSize}, {len} positions");
                Bitwise.AssertEqual(expected, output, $"output, width {width}, head size {headSize}, {len} positions");
            }
    }

    /// <summary>
    /// runq.c's attention (<see cref="Summation.InOrder"/>), written out plainly here: each score q · k summed term by term
    /// and divided by √headSize, softmax, each output element a product then a sum over the positions in order.
    /// </summary>
    [Theory]
    [MemberData(nameof(Widths))]
    public unsafe void Attention_head_in_order_equals_runq_bitwise(int width)
    {
        var random = new Random(12);
        foreach (int headSize in new[] { 8, 20, 48, 64, 128 })
            foreach (int len in new[] { 1, 3, 4, 5, 15, 16, 17, 33, 100 })
            {
                int stride = headSize * 3;
                var q = RandomArray(random, headSize);
                var cache = RandomArray(random, len * stride * 2);
                var output = new float[headSize];
                var att = new float[len];
                fixed (float* pq = q, pc = cache, po = output, pa = att)
                    Attention.Head(width, pq, pc + headSize, pc + len * stride + headSize, stride, len, headSize, pa, po, Summation.InOrder);

                var scores = new float[len];
                for (int t = 0; t < len; t++)
                {
                    float score = 0f;
                    for (int i = 0; i < headSize; i++) score += q[i] * cache[t * stride + headSize + i];
                    scores[t] = score / MathF.Sqrt(headSize);
                }
                Ops.Softmax(scores);
                var expected = new float[headSize];
                for (int t = 0; t < len; t++)
                    for (int i = 0; i < headSize; i++) expected[i] += scores[t] * cache[len * stride + t * stride + headSize + i];
                Bitwise.AssertEqual(scores, att, $"scores, width {width}, head size {headSize}, {len} positions");
                Bitwise.AssertEqual(expected, output, $"output, width {width}, head size {headSize}, {len} positions");
            }
    }

    public static TheoryData<int, int, int, int, int, int> Models => new()
    {
        // dim, hidden, layers, heads, kv heads, prompt length
        { 40, 72, 2, 4, 2, 150 },  // nothing a multiple of 16; the prompt spans two prefill batches
        { 64, 172, 2, 4, 4, 9 },   // whole vectors, odd hidden
        { 96, 256, 3, 6, 3, 128 }, // exactly one batch
    };

    [Theory]
    [MemberData(nameof(Models))]
    public void Prefill_gives_the_logits_and_cache_of_token_by_token_forward_bitwise(int dim, int hidden, int layers, int heads, int kvHeads, int promptLength)
    {
        var config = new ModelConfig(dim, hidden, layers, heads, kvHeads, VocabSize: 97, SeqLen: 160, SharedClassifier: false);
        string directory = Path.Combine(Path.GetTempPath(), $"llama2-kernel-tests-{Guid.NewGuid():N}");
        try
        {
            string path = Path.Combine(directory, "model.bin");
            CheckpointWriter.WriteRandom(path, config, version: 1, seed: 7);
            using var checkpoint = Checkpoint.Open(path);
            var transformer = new Transformer(checkpoint);
            var random = new Random(3);
            var prompt = Enumerable.Range(0, promptLength).Select(_ => random.Next(config.VocabSize)).ToArray();

            var stepped = transformer.CreateState();
            float[] expected = [];
            for (int pos = 0; pos < prompt.Length; pos++) expected = transformer.Forward(prompt[pos], pos, stepped).ToArray();

            var batched = transformer.CreateState();
            var logits = transformer.Prefill(prompt, 0, batched).ToArray();
            Bitwise.AssertEqual(expected, logits, "logits after the prompt");

            int cached = layers * config.SeqLen * config.KvDim;
            for (int l = 0; l < layers; l++)
                for (int pos = 0; pos < prompt.Length; pos++)
                {
                    Bitwise.AssertEqual(stepped.Key(l, pos), batched.Key(l, pos), $"key cache, layer {l}, position {pos}");
                    Bitwise.AssertEqual(stepped.Value(l, pos), batched.Value(l, pos), $"value cache, layer {l}, position {pos}");
                }
            Assert.True(cached > 0);

            // Decoding after a prefill continues exactly as after token-by-token feeding; and a prefill can resume mid-way.
            Bitwise.AssertEqual(transformer.Forward(5, prompt.Length, stepped), transformer.Forward(5, prompt.Length, batched), "next token");
            var resumed = transformer.CreateState();
            int half = prompt.Length / 2;
            transformer.Prefill(prompt.AsSpan(0, half), 0, resumed);
            Bitwise.AssertEqual(expected, transformer.Prefill(prompt.AsSpan(half), half, resumed), "prefill in two calls");
        }
        finally
        {
            if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void Prefill_checks_its_arguments()
    {
        var config = new ModelConfig(16, 32, 1, 2, 2, VocabSize: 10, SeqLen: 8, SharedClassifier: true);
        string directory = Path.Combine(Path.GetTempPath(), $"llama2-kernel-tests-{Guid.NewGuid():N}");
        try
        {
            string path = Path.Combine(directory, "model.bin");
            CheckpointWriter.WriteRandom(path, config);
            using var checkpoint = Checkpoint.Open(path);
            var transformer = new Transformer(checkpoint);
            var state = transformer.CreateState();
            Assert.Throws<ArgumentException>(() => transformer.Prefill([], 0, state));
            Assert.Throws<ArgumentOutOfRangeException>(() => transformer.Prefill([1, 2, 3], 6, state));
            Assert.Throws<ArgumentOutOfRangeException>(() => transformer.Prefill([1, 10], 0, state));
        }
        finally
        {
            if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        }
    }
}

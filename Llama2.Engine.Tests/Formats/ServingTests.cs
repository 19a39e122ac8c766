using System.Runtime.InteropServices;
using Llama2.Engine.Formats;
using Llama2.Engine.Kernels;
using static Llama2.Engine.Tests.Formats.ForeignModels;

namespace Llama2.Engine.Tests.Formats;

/// <summary>
/// Hugging Face folders and GGUF files served directly (no conversion), each written from the weights of a .bin: fp32
/// must compute the .bin's logits bit for bit, bf16/fp16 those of the .bin of the rounded weights, GGUF Q8_0 those of
/// the version 2 .bin of the same int8 values and scales; one token at a time and as a prompt (the batched kernels).
/// </summary>
public sealed class ServingTests : ForeignModelTests
{
    /// <summary>The logits of every position, one token at a time and as one prompt.</summary>
    static float[] Served(string path) => Logits(path, withPrompt: true);

    static float[] Served(Checkpoint checkpoint) => Logits(checkpoint, withPrompt: true);

    public static TheoryData<bool, int, int> Fp32Cases => new()
    {
        // shared classifier, kv heads, shards
        { false, 2, 1 }, { true, 2, 1 }, { false, 1, 3 }, { true, 4, 2 },
    };

    [Theory]
    [MemberData(nameof(Fp32Cases))]
    public void Fp32_safetensors_served_directly_give_the_bins_logits_bit_for_bit(bool shared, int kvHeads, int shards)
    {
        var original = Original(shared, kvHeads);
        var folder = HuggingFace(original, new HuggingFaceOptions { Shards = shards });

        Bitwise.AssertEqual(Served(original), Served(folder), "logits");
        using var served = Checkpoint.Open(folder);
        Assert.Equal(("safetensors", "float32", "none"), (served.Format, served.WeightType, served.Quantization));
        Assert.Equal(RotaryLayout.HalfSplit, served.Weights.QueryKeyLayout);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Fp32_gguf_served_directly_gives_the_bins_logits_bit_for_bit(bool shared)
    {
        var original = Original(shared);
        var gguf = Gguf(original, new GgufOptions());

        Bitwise.AssertEqual(Served(original), Served(gguf), "logits");
        using var served = Checkpoint.Open(gguf);
        Assert.Equal(("gguf", "float32"), (served.Format, served.WeightType));
    }

    [Theory]
    [InlineData(Storage.BF16, 1)]
    [InlineData(Storage.BF16, 3)]
    [InlineData(Storage.F16, 2)]
    public void Half_precision_safetensors_served_directly_give_the_logits_of_the_rounded_weights_bit_for_bit(Storage storage, int shards)
    {
        var original = Original();
        var folder = HuggingFace(original, new HuggingFaceOptions { Storage = storage, Shards = shards });

        var served = Served(folder);
        Bitwise.AssertEqual(Served(Rounded(original, storage, normsStayF32: false)), served, "logits");
        Assert.NotEqual(Served(original), served); // the rounding is real
        using var checkpoint = Checkpoint.Open(folder);
        Assert.Equal(storage == Storage.BF16 ? "bfloat16" : "float16", checkpoint.WeightType);
        Assert.Equal(storage == Storage.BF16 ? WeightFormat.BF16 : WeightFormat.F16, checkpoint.Weights.Wq(0).Format);
    }

    [Fact]
    public void Decoding_a_bf16_folder_allocates_nothing_per_token()
    {
        using var served = Checkpoint.Open(HuggingFace(Original(), new HuggingFaceOptions { Storage = Storage.BF16 }));
        var transformer = new Transformer(served);
        var state = transformer.CreateState();
        int seqLen = served.Config.SeqLen;
        void DecodeWindow() { for (int pos = 0; pos < seqLen; pos++) transformer.Forward(Tokens[pos % Tokens.Length], pos, state); }

        DecodeWindow(); // JIT and first-use paths
        // The runtime may still allocate now and then on this thread (tiered recompilation of a hot method); a window of
        // seq_len tokens with nothing allocated shows that decoding itself allocates nothing, since an allocation per
        // token would show in every window.
        var windows = new List<long>();
        for (int attempt = 0; attempt < 5 && (windows.Count == 0 || windows[^1] != 0); attempt++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            DecodeWindow();
            windows.Add(GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.True(windows[^1] == 0, $"bytes allocated in each window of {seqLen} tokens: {string.Join(", ", windows)}");
    }

    [Theory]
    [InlineData(Storage.F16, false)]
    [InlineData(Storage.BF16, true)]
    public void Half_precision_gguf_served_directly_gives_the_logits_of_the_rounded_weights_bit_for_bit(Storage storage, bool shared)
    {
        var original = Original(shared);
        Bitwise.AssertEqual(Served(Rounded(original, storage, normsStayF32: true)), Served(Gguf(original, new GgufOptions { Storage = storage })), "logits");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Q8_0_gguf_served_directly_gives_the_logits_of_the_same_int8_weights_as_a_version_2_bin(bool shared)
    {
        var original = Original(shared);
        var gguf = Gguf(original, new GgufOptions { Storage = Storage.Q8_0 });
        var v2 = Dir.File($"q8-{shared}.bin");
        using (var bin = Checkpoint.Open(original)) WriteVersion2OfGgufQ8_0(bin, v2);

        using var served = Checkpoint.Open(gguf);
        using var reference = Checkpoint.Open(v2);
        Assert.Equal((WeightFormat.Q8_0, 32), (reference.Weights.Format, reference.Weights.GroupSize));
        Assert.Equal((WeightFormat.Q8_0, 32), (served.Weights.Format, served.Weights.GroupSize));
        Bitwise.AssertEqual(Served(reference), Served(served), "logits");
        Assert.Equal(("gguf", "int8", "q8_0 (file)"), (served.Format, served.WeightType, served.Quantization));
        Assert.True(served.RepackedBytes > 0);
    }

    /// <summary>
    /// The version 2 .bin (group size 32) holding exactly the Q8_0 values and scales that <see cref="WriteGguf"/> stores:
    /// ggml's blocks of 32 are llama2.c's groups of 32, each fp16 scale widened to fp32.
    /// </summary>
    static void WriteVersion2OfGgufQ8_0(Checkpoint bin, string path)
    {
        var layout = new CheckpointLayout(bin.Config, 2, 32);
        var bytes = new byte[layout.FileBytes];
        CheckpointHeader.Write(layout).CopyTo(bytes, 0);
        foreach (var kind in layout.Order)
            for (int layer = 0; layer < layout.LayerCount(kind); layer++)
            {
                var values = Read(bin, kind, layer);
                long offset = layout.OffsetOf(kind, layer);
                if (!layout.IsQuantized(kind))
                {
                    MemoryMarshal.AsBytes(values.AsSpan()).CopyTo(bytes.AsSpan((int)offset));
                    continue;
                }
                var blocks = QuantizeQ8_0(values);
                long scales = layout.ScalesOffsetOf(kind, layer);
                for (int b = 0; b < values.Length / 32; b++)
                {
                    blocks.AsSpan(b * 34 + 2, 32).CopyTo(bytes.AsSpan((int)offset + b * 32));
                    BitConverter.TryWriteBytes(bytes.AsSpan((int)scales + b * 4), (float)BitConverter.ToHalf(blocks, b * 34));
                }
            }
        File.WriteAllBytes(path, bytes);
    }

    [Fact]
    public void Served_without_the_query_key_permutation_the_logits_differ_at_every_position_but_the_first()
    {
        // A folder whose q/k rows are in Meta's order though Hugging Face's are expected: the reordering of the query
        // and key outputs then scrambles the rotary pairs, and the comparison the other tests make catches it.
        var original = Original();
        var expected = Served(original);
        var actual = Served(HuggingFace(original, new HuggingFaceOptions { PermuteQueryKey = false }));
        int vocab = TestModels.Small().VocabSize;
        Assert.Equal(Tokens.Length - 1, Enumerable.Range(1, Tokens.Length - 1)
            .Count(pos => !expected.AsSpan(pos * vocab, vocab).SequenceEqual(actual.AsSpan(pos * vocab, vocab))));
        // Position 0 rotates by angle 0, so the permutation cannot show there.
        Bitwise.AssertEqual(expected.AsSpan(0, vocab), actual.AsSpan(0, vocab), "logits at position 0");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void The_models_rms_norm_epsilon_and_rotary_base_are_honoured_as_the_reference_math_says(bool gguf)
    {
        const float Eps = 0.25f, Theta = 30f;
        var original = Original();
        var path = gguf
            ? Gguf(original, new GgufOptions { RmsNormEps = Eps, RopeTheta = Theta })
            : HuggingFace(original, new HuggingFaceOptions { RmsNormEps = Eps, RopeTheta = Theta });
        using var bin = Checkpoint.Open(original);
        using var served = Checkpoint.Open(path);
        Assert.Equal((Eps, Theta), (served.Config.RmsNormEps, served.Config.RopeTheta));

        var logits = Served(served).AsSpan(0, Tokens.Length * bin.Config.VocabSize).ToArray();
        double Distance(double[] reference) => logits.Select((v, i) => Math.Abs(v - reference[i])).Max();
        double honoured = Distance(ReferenceLogits(bin, Eps, Theta));
        double defaults = Distance(ReferenceLogits(bin, ModelConfig.DefaultRmsNormEps, ModelConfig.DefaultRopeTheta));
        double epsOnly = Distance(ReferenceLogits(bin, Eps, ModelConfig.DefaultRopeTheta));
        double thetaOnly = Distance(ReferenceLogits(bin, ModelConfig.DefaultRmsNormEps, Theta));
        Assert.True(honoured < 1e-4, $"served vs the reference with the model's settings: {honoured}");
        foreach (var (what, distance) in new[] { ("run.c's settings", defaults), ("ε alone", epsOnly), ("θ alone", thetaOnly) })
            Assert.True(distance > 100 * honoured, $"served vs the reference with {what}: {distance} (honoured: {honoured})");
    }

    /// <summary>
    /// Llama 2's forward pass written out plainly in double precision from the .bin's weights (Meta's row order), one
    /// token at a time: RMSNorm with <paramref name="eps"/>, rotary pairs (2i, 2i+1) turned by pos · θ^(−2i/head_size).
    /// </summary>
    static double[] ReferenceLogits(Checkpoint bin, float eps, float theta)
    {
        var c = bin.Config;
        int dim = c.Dim, hs = c.HeadSize, kvDim = c.KvDim;
        double[] W(TensorKind kind, int layer = 0) => [.. Read(bin, kind, layer).Select(v => (double)v)];
        double[] MatVec(double[] w, double[] x, int rows) =>
            [.. Enumerable.Range(0, rows).Select(r => Enumerable.Range(0, x.Length).Sum(k => w[r * x.Length + k] * x[k]))];
        double[] Norm(double[] x, double[] w)
        {
            double scale = 1 / Math.Sqrt(x.Sum(v => v * v) / x.Length + eps);
            return [.. x.Select((v, i) => v * scale * w[i])];
        }
        void Rotate(double[] v, int pos)
        {
            for (int i = 0; i < v.Length; i += 2)
            {
                double angle = pos / Math.Pow(theta, (double)(i % hs) / hs);
                (v[i], v[i + 1]) = (v[i] * Math.Cos(angle) - v[i + 1] * Math.Sin(angle), v[i] * Math.Sin(angle) + v[i + 1] * Math.Cos(angle));
            }
        }

        var keys = new List<double[]>[c.NLayers];
        var values = new List<double[]>[c.NLayers];
        for (int l = 0; l < c.NLayers; l++) (keys[l], values[l]) = ([], []);
        var embedding = W(TensorKind.TokenEmbedding);
        var classifier = W(c.SharedClassifier ? TensorKind.TokenEmbedding : TensorKind.Classifier);
        var logits = new List<double>();
        for (int pos = 0; pos < Tokens.Length; pos++)
        {
            double[] x = embedding[(Tokens[pos] * dim)..((Tokens[pos] + 1) * dim)];
            for (int l = 0; l < c.NLayers; l++)
            {
                var xb = Norm(x, W(TensorKind.RmsAtt, l));
                var q = MatVec(W(TensorKind.Wq, l), xb, dim);
                var k = MatVec(W(TensorKind.Wk, l), xb, kvDim);
                Rotate(q, pos);
                Rotate(k, pos);
                keys[l].Add(k);
                values[l].Add(MatVec(W(TensorKind.Wv, l), xb, kvDim));
                var attended = new double[dim];
                for (int h = 0; h < c.NHeads; h++)
                {
                    int kvHead = h / c.KvMul;
                    var scores = keys[l].Select(key => Enumerable.Range(0, hs).Sum(i => q[h * hs + i] * key[kvHead * hs + i]) / Math.Sqrt(hs)).ToArray();
                    double max = scores.Max(), sum = scores.Sum(s => Math.Exp(s - max));
                    for (int t = 0; t <= pos; t++)
                        for (int i = 0; i < hs; i++)
                            attended[h * hs + i] += Math.Exp(scores[t] - max) / sum * values[l][t][kvHead * hs + i];
                }
                x = [.. x.Zip(MatVec(W(TensorKind.Wo, l), attended, dim), (a, b) => a + b)];
                xb = Norm(x, W(TensorKind.RmsFfn, l));
                var gate = MatVec(W(TensorKind.W1, l), xb, c.HiddenDim);
                var up = MatVec(W(TensorKind.W3, l), xb, c.HiddenDim);
                var hidden = gate.Select((g, i) => g / (1 + Math.Exp(-g)) * up[i]).ToArray();
                x = [.. x.Zip(MatVec(W(TensorKind.W2, l), hidden, dim), (a, b) => a + b)];
            }
            logits.AddRange(MatVec(classifier, Norm(x, W(TensorKind.RmsFinal)), c.VocabSize));
        }
        return [.. logits];
    }

    [Fact]
    public void Quantized_at_load_a_bf16_folder_gives_the_logits_of_the_int8_file_of_its_rounded_weights()
    {
        var original = Original();
        var folder = HuggingFace(original, new HuggingFaceOptions { Storage = Storage.BF16, Shards = 2 });
        var v2 = Dir.File("rounded-q8.bin");
        CheckpointQuantizer.QuantizeFile(Rounded(original, Storage.BF16, normsStayF32: false), v2, cancellationToken: TestToken);

        using var bf16 = Checkpoint.Open(folder);
        using var atLoad = Checkpoint.QuantizeInMemory(bf16, cancellationToken: TestToken);
        Assert.Equal(("safetensors", "int8", "q8_0 (at load)"), (atLoad.Format, atLoad.WeightType, atLoad.Quantization));
        Assert.Equal(RotaryLayout.Interleaved, atLoad.Weights.QueryKeyLayout); // the rows were put in Meta's order
        Assert.Equal(File.ReadAllBytes(v2), atLoad.Bytes(0, (int)atLoad.FileBytes).ToArray());
        Bitwise.AssertEqual(Served(v2), Served(atLoad), "logits");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Without_a_tokenizer_file_the_vocabulary_stored_with_the_model_is_used(bool gguf)
    {
        var original = Original(shared: true);
        var pieces = SentencePieceWriter.LlamaStylePieces(300, "▁the", "▁a", "b");
        var path = gguf ? Gguf(original, new GgufOptions { Pieces = pieces }) : HuggingFace(original, new HuggingFaceOptions { Pieces = pieces });
        var tokenizerBin = Dir.File($"from-vocabulary-{gguf}.bin");
        using (var model = ExternalModel.Open(path)) File.WriteAllBytes(tokenizerBin, model.Vocabulary!.ToTokenizerBin());

        using var withFile = LlamaModel.Load(original, tokenizerBin);
        using var withVocabulary = LlamaModel.Load(path, tokenizerPath: null);
        Assert.Equal(withFile.Tokenizer.Encode("the ab a the", bos: true, eos: false), withVocabulary.Tokenizer.Encode("the ab a the", bos: true, eos: false));
        Assert.Equal(300, withVocabulary.Tokenizer.VocabSize);
    }

    [Fact]
    public void Without_a_tokenizer_file_or_a_stored_vocabulary_the_error_says_to_give_one()
    {
        var folder = HuggingFace(Original(), new HuggingFaceOptions());
        var e = Assert.Throws<CheckpointFormatException>(() => LlamaModel.Load(folder, tokenizerPath: null));
        Assert.Contains(folder, e.Message);
        Assert.Contains("give a tokenizer.bin", e.Message);
    }
}

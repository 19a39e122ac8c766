namespace Llama2.Engine.Tests.Golden;

/// <summary>
/// The engine against llama2.c's run.c itself (../shared/golden, see its README for what each check must show and why).
/// </summary>
public sealed class RunCGoldenTests
{
    [Fact]
    public void The_golden_file_holds_exactly_the_cases_these_tests_run() => GoldenCases.AssertTheFileHoldsExactlyAll();

    [Fact]
    public void Random_generator_matches_runc_random_u32()
    {
        foreach (var (seed, expected) in GoldenCases.RngVectors)
        {
            var random = new XorShiftRandom(ulong.Parse(seed));
            var actual = Enumerable.Range(0, expected.Length).Select(_ => random.NextUInt32()).ToArray();
            Assert.Equal(expected, actual);
        }
    }

    [Theory]
    [MemberData(nameof(GoldenCases.WithTextTokenizer), MemberType = typeof(GoldenCases))]
    public void Prompt_is_encoded_to_runc_ids(string name)
    {
        var golden = GoldenCases.Get(name);
        var tokenizer = Tokenizer.Load(golden.TokenizerPath, golden.VocabSize);
        Assert.Equal(golden.PromptIds, tokenizer.Encode(golden.Prompt ?? "", bos: true, eos: false));
    }

    [Theory]
    [MemberData(nameof(GoldenCases.All), MemberType = typeof(GoldenCases))]
    public void Teacher_forced_logits_match_runc_at_every_dumped_position(string name)
    {
        var golden = GoldenCases.Get(name);
        var expected = golden.ReadLogits();
        var sequence = golden.FullSequence;
        using var checkpoint = Checkpoint.Open(golden.ModelPath);
        var transformer = new Inference.Transformer(checkpoint);
        var state = transformer.CreateState();
        int vocab = golden.VocabSize;
        Assert.Equal(vocab, checkpoint.Config.VocabSize);

        for (int pos = 0; pos < golden.LogitsPositions; pos++)
        {
            var logits = transformer.Forward(sequence[pos], pos, state);
            var reference = expected.AsSpan(pos * vocab, vocab);
            float tolerance = 1e-4f * Math.Max(1f, MaxAbs(reference));
            for (int i = 0; i < vocab; i++)
                if (!(MathF.Abs(logits[i] - reference[i]) <= tolerance))
                    Assert.Fail($"{name}: position {pos}, logit {i}: {logits[i]} vs run.c {reference[i]} (tolerance {tolerance})");
        }
    }

    [Theory]
    [MemberData(nameof(GoldenCases.Greedy), MemberType = typeof(GoldenCases))]
    public void Greedy_generation_reproduces_runc_sequence(string name)
    {
        var golden = GoldenCases.Get(name);
        Assert.Equal(0f, golden.Temperature);
        var tokenizerPath = golden.UsesTextTokenizer ? golden.TokenizerPath : null;
        using var model = tokenizerPath is null ? TestModels.LoadWithByteTokenizer(golden.ModelPath) : LlamaModel.Load(golden.ModelPath, tokenizerPath);

        var sequence = model.StartSequence(new GenerationRequest
        {
            PromptIds = golden.PromptIds,
            MaxNewTokens = golden.Steps - golden.PromptIds.Length + 1,
            StopAtEos = false,
            Sampling = new SamplingOptions { Temperature = 0f },
        });
        var ids = new List<int>();
        while (sequence.Next() is { } token) ids.Add(token.Id);

        Assert.Equal(golden.EndedBy == "bos" ? [.. golden.ExpectedIds, Tokenizer.Bos] : golden.ExpectedIds, ids);
    }

    [Theory]
    [MemberData(nameof(GoldenCases.All), MemberType = typeof(GoldenCases))]
    public void Sampler_fed_runc_logits_picks_runc_tokens(string name)
    {
        var golden = GoldenCases.Get(name);
        var logits = golden.ReadLogits();
        var sequence = golden.FullSequence;
        int vocab = golden.VocabSize;
        var sampler = new Sampler(vocab, new SamplingOptions { Temperature = golden.Temperature, TopP = golden.TopP, Seed = golden.Seed });
        var row = new float[vocab];

        int checkedPositions = 0;
        for (int pos = golden.PromptIds.Length - 1; pos < golden.LogitsPositions; pos++)
        {
            // After the last expected token, run.c sampled BOS and stopped.
            int expected = pos + 1 < sequence.Length ? sequence[pos + 1] : Tokenizer.Bos;
            logits.AsSpan(pos * vocab, vocab).CopyTo(row);
            Assert.Equal(expected, sampler.Sample(row, sequence.AsSpan(0, pos + 1), out _));
            checkedPositions++;
        }
        Assert.True(checkedPositions > 0);
    }

    static float MaxAbs(ReadOnlySpan<float> values)
    {
        float max = 0;
        foreach (float v in values) max = Math.Max(max, Math.Abs(v));
        return max;
    }
}

namespace Llama2.Engine.Tests.Generation;

/// <summary>
/// Generation past the end of the context window (<see cref="ContextShift"/>), on tiny32k (seq_len 128, from ../shared)
/// and on a seeded random model the test writes (seq_len 64). A shift is correct when the logits right after it are
/// those of a fresh sequence fed the kept tokens at their new positions.
/// </summary>
public sealed class ContextShiftTests : IDisposable
{
    static readonly SamplingOptions Greedy = new() { Temperature = 0 };
    readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string> Models => new("small", "tiny32k");

    LlamaModel Load(string name)
    {
        if (name == "tiny32k") return LlamaModel.Load(SharedData.Tiny32k, SharedData.Tokenizer32k);
        var (checkpoint, tokenizer) = TestModels.WriteSmallModel(_dir);
        return LlamaModel.Load(checkpoint, tokenizer);
    }

    static int[] Prompt(LlamaModel model) => [.. model.Tokenizer.Encode("Once upon a time, a b ab", bos: true, eos: false)];

    static List<GeneratedToken> Run(LlamaModel model, GenerationRequest request) => Generations.ToEnd(model.StartSequence(request).Next);

    [Theory]
    [MemberData(nameof(Models))]
    public void A_greedy_generation_of_three_contexts_completes(string name)
    {
        using var model = Load(name);
        int seqLen = model.Config.SeqLen, prompt = Prompt(model).Length;
        var request = new GenerationRequest
        {
            PromptIds = Prompt(model), MaxNewTokens = 3 * seqLen, StopAtEos = false, StopAtBos = false, Sampling = Greedy,
            ContextShift = new ContextShift(),
        };
        var tokens = Run(model, request);

        Assert.Equal(3 * seqLen, tokens.Count);
        Assert.Equal(Enumerable.Range(0, 3 * seqLen), tokens.Select(t => t.Index));
        var summary = tokens[^1].Summary!;
        Assert.Equal((FinishReason.Length, 3 * seqLen), (summary.FinishReason, summary.GeneratedTokens));
        // BOS is kept and half the other positions go at each shift; the last token is not fed, so needs no room.
        int discard = (seqLen - 1) / 2, fed = prompt + 3 * seqLen - 1;
        int shifts = (fed - seqLen + discard - 1) / discard;
        Assert.Equal((shifts, shifts * discard), (summary.ContextShifts, summary.DiscardedTokens));
        Assert.Equal(string.Concat(tokens.Select(t => t.Text)), summary.GeneratedText);

        // Until the first shift, the tokens are those of the same request without one (which stops at the full context).
        var unshifted = Run(model, request with { ContextShift = null });
        Assert.Equal(FinishReason.ContextFull, unshifted[^1].Finish);
        Assert.Equal(seqLen - prompt + 1, unshifted.Count);
        Assert.Equal(unshifted.Select(t => t.Id), tokens.Take(unshifted.Count).Select(t => t.Id));
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void Right_after_a_shift_the_logits_are_those_of_a_fresh_sequence_fed_the_kept_tokens(string name)
    {
        using var model = Load(name);
        int seqLen = model.Config.SeqLen;
        foreach (var shift in new[] { new ContextShift(), new ContextShift { Keep = 5, Discard = 7 } })
        {
            var request = new GenerationRequest
            {
                PromptIds = Prompt(model), MaxNewTokens = 2 * seqLen, StopAtEos = false, StopAtBos = false,
                Sampling = new SamplingOptions { Temperature = 1f, TopP = 0.9f, Seed = 5 }, ContextShift = shift,
            };
            int discard = shift.Discard ?? (seqLen - shift.Keep) / 2;
            int checkedShifts = StepAndCheckShifts(model, request, shift.Keep, discard);
            Assert.True(checkedShifts >= 2, $"only {checkedShifts} shifts for keep {shift.Keep}, discard {discard}");
        }
    }

    /// <summary>
    /// Steps <paramref name="request"/> as the scheduler does (feed what is unfed, sample from the logits) and, after each
    /// shift, checks the window (the kept tokens, then the rest moved down) and the next logits against a fresh cache fed
    /// the window from position 0. Returns the number of shifts checked.
    /// </summary>
    static int StepAndCheckShifts(LlamaModel model, GenerationRequest request, int keep, int discard)
    {
        var sequence = model.StartSequence(request);
        int shifts = 0;
        bool shifted = false;
        while (sequence.Begin())
        {
            var window = sequence.Tokens.ToArray();
            var logits = model.Transformer.Prefill(sequence.Unfed, sequence.FedCount, sequence.State).ToArray();
            if (shifted)
            {
                var fresh = model.Transformer.Prefill(window, 0, model.Transformer.CreateState());
                AssertClose(fresh, logits, 1e-4, $"logits after shift {shifts}");
                shifted = false;
            }
            sequence.MarkFed(sequence.Unfed.Length);
            var before = sequence.Tokens.ToArray();
            var token = sequence.Sample(logits);
            if (token.Finish is not null) break;
            if (sequence.FedCount < before.Length)
            {
                shifts++;
                shifted = true;
                Assert.Equal([.. before[..keep], .. before[(keep + discard)..], token.Id], sequence.Tokens.ToArray());
                Assert.Equal(keep, sequence.FedCount); // everything after the kept tokens is fed again
                Assert.Equal(model.Config.SeqLen + 1 - discard, sequence.Tokens.Length);
            }
        }
        return shifts;
    }

    static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double relative, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        float scale = 0;
        foreach (float e in expected) scale = Math.Max(scale, Math.Abs(e));
        for (int i = 0; i < expected.Length; i++)
            if (Math.Abs(actual[i] - expected[i]) > relative * scale)
                Assert.Fail($"{what}: element {i} is {actual[i]:R}, expected {expected[i]:R} (within {relative} × {scale})");
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void A_prompt_longer_than_the_context_is_shifted_before_it_is_fed(string name)
    {
        using var model = Load(name);
        int seqLen = model.Config.SeqLen, discard = (seqLen - 1) / 2;
        int[] prompt = [1, .. Enumerable.Range(0, 2 * seqLen + 10).Select(i => 3 + i * 7 % 250)];
        var request = new GenerationRequest { PromptIds = prompt, MaxNewTokens = 5, StopAtEos = false, Sampling = Greedy, ContextShift = new ContextShift() };
        var sequence = model.StartSequence(request);
        int shifts = (prompt.Length - seqLen + discard - 1) / discard;
        int[] window = [1, .. prompt[(1 + shifts * discard)..]];
        Assert.Equal(window, sequence.Tokens.ToArray());
        Assert.Equal(prompt, sequence.PromptIds.ToArray());

        var tokens = new List<GeneratedToken>();
        while (sequence.Next() is { } token) tokens.Add(token);
        // The same as a request whose prompt is the window, with no shift at all.
        var fresh = Run(model, request with { PromptIds = window, ContextShift = null });
        Assert.Equal(fresh.Select(t => t.Id), tokens.Select(t => t.Id));
        Assert.Equal((prompt.Length, shifts, shifts * discard),
            (tokens[^1].Summary!.PromptTokens, tokens[^1].Summary!.ContextShifts, tokens[^1].Summary!.DiscardedTokens));
    }

    [Fact]
    public void Without_a_context_shift_a_long_prompt_is_refused_and_a_limit_is_cut_to_the_context()
    {
        using var model = Load("small");
        int[] prompt = [1, .. Enumerable.Repeat(260, 64)];
        var e = Assert.Throws<ArgumentException>(() => model.StartSequence(new GenerationRequest { PromptIds = prompt }));
        Assert.Contains("the prompt is 65 tokens; the context is 64", e.Message);

        var tokens = Run(model, new GenerationRequest { PromptIds = [1, 260], MaxNewTokens = 1000, StopAtEos = false, StopAtBos = false, Sampling = Greedy });
        Assert.Equal((63, FinishReason.ContextFull), (tokens.Count, tokens[^1].Finish));
    }

    [Fact]
    public void Max_positions_bound_a_shifting_sequence_and_end_it_as_a_full_context()
    {
        using var model = Load("small");
        var request = new GenerationRequest
        {
            PromptIds = [1, 260, 261], MaxPositions = 150, StopAtEos = false, StopAtBos = false, Sampling = Greedy,
            ContextShift = new ContextShift(),
        };
        var tokens = Run(model, request);
        Assert.Equal(150 - 3 + 1, tokens.Count);
        Assert.Equal(FinishReason.ContextFull, tokens[^1].Finish);
        Assert.True(tokens[^1].Summary!.ContextShifts > 0);
    }

    [Fact]
    public void Bad_shift_settings_are_refused_naming_the_range()
    {
        using var model = Load("small");
        foreach (var (shift, problem) in new[]
        {
            (new ContextShift { Keep = 64 }, "keeps 0..63 leading tokens"),
            (new ContextShift { Keep = -1 }, "keeps 0..63 leading tokens"),
            (new ContextShift { Keep = 4, Discard = 61 }, "drops 1..60 at a time"),
            (new ContextShift { Discard = 0 }, "drops 1..63 at a time"),
        })
        {
            var e = Assert.Throws<ArgumentException>(() =>
                model.StartSequence(new GenerationRequest { PromptIds = [1, 260], ContextShift = shift }));
            Assert.Contains(problem, e.Message);
        }
    }

    [Fact]
    public void Shifts_to_fit_counts_whole_shifts_of_the_discard()
    {
        var half = new ContextShift(); // keep BOS, drop half of the other positions
        Assert.Equal(63, half.DiscardPerShift(128));
        Assert.Equal((0, 0, 1, 1, 2), (half.ShiftsToFit(100, 128), half.ShiftsToFit(128, 128), half.ShiftsToFit(129, 128),
            half.ShiftsToFit(191, 128), half.ShiftsToFit(192, 128)));
        var fixedDrop = new ContextShift { Keep = 10, Discard = 5 };
        Assert.Equal(5, fixedDrop.DiscardPerShift(128));
        Assert.Equal(3, fixedDrop.ShiftsToFit(141, 128));
        Assert.Equal(1, new ContextShift { Keep = 0 }.DiscardPerShift(2));
        Assert.Equal(1, new ContextShift { Keep = 1 }.DiscardPerShift(2));
    }
}

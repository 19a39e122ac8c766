namespace Llama2.Engine.Tests.Generation;

/// <summary>Generation on a small random model the tests write (no ../shared needed).</summary>
public sealed class GenerationTests : IDisposable
{
    readonly SmallModel _small = new();

    public void Dispose() => _small.Dispose();

    List<GeneratedToken> Run(GenerationRequest request)
    {
        var sequence = _small.Model.StartSequence(request);
        var tokens = Generations.ToEnd(sequence.Next);
        Assert.True(sequence.IsFinished);
        return tokens;
    }

    static GenerationRequest Sampled(ulong seed, int? maxNewTokens = 20) => new()
    {
        Prompt = "ab ab",
        MaxNewTokens = maxNewTokens,
        StopAtEos = false,
        Sampling = new SamplingOptions { Temperature = 1f, TopP = 0.95f, Seed = seed },
    };

    [Fact]
    public void Stops_at_max_new_tokens_and_summarises()
    {
        var tokens = Run(Sampled(1, maxNewTokens: 7));
        Assert.Equal(7, tokens.Count);
        Assert.Equal(Enumerable.Range(0, 7), tokens.Select(t => t.Index));
        Assert.All(tokens.SkipLast(1), t => Assert.Null(t.Finish));
        var last = tokens[^1];
        Assert.Equal(FinishReason.Length, last.Finish);
        Assert.NotNull(last.Summary);
        Assert.Equal(7, last.Summary.GeneratedTokens);
        Assert.Equal(_small.Model.Tokenizer.Encode("ab ab", true, false).Count, last.Summary.PromptTokens);
        Assert.Equal(string.Concat(tokens.Select(t => t.Text)), last.Summary.GeneratedText);
        Assert.True(last.Summary.TokensPerSecond > 0);
        Assert.All(tokens, t => Assert.True(t.Logprob <= 0));
    }

    [Fact]
    public void Top_logprobs_come_with_each_token_only_when_asked_for()
    {
        var greedy = new SamplingOptions { Temperature = 0 };
        var asked = Run(new GenerationRequest { Prompt = "ab ab", MaxNewTokens = 6, StopAtEos = false, Sampling = greedy with { TopLogprobs = 3 } });
        var plain = Run(new GenerationRequest { Prompt = "ab ab", MaxNewTokens = 6, StopAtEos = false, Sampling = greedy });
        Assert.Equal(plain.Select(t => t.Id), asked.Select(t => t.Id)); // reporting them changes nothing
        Assert.All(plain, t => Assert.Null(t.TopLogprobs));
        foreach (var token in asked)
        {
            var top = token.TopLogprobs!;
            Assert.Equal(3, top.Count);
            Assert.Equal(new TokenLogprob(token.Id, token.Logprob), top[0]); // greedy: the pick is the most likely
            Assert.True(top[0].Logprob >= top[1].Logprob && top[1].Logprob >= top[2].Logprob);
        }
    }

    [Fact]
    public void A_frequency_penalty_counts_only_this_generations_tokens()
    {
        // Greedy with a penalty far above any logit gap: no generated token comes twice while unused ones remain,
        // yet tokens of the prompt are not held against it.
        var request = new GenerationRequest
        {
            Prompt = "ab ab", MaxNewTokens = 30, StopAtEos = false, StopAtBos = false,
            Sampling = new SamplingOptions { Temperature = 0, FrequencyPenalty = 1000f },
        };
        var ids = Run(request).Select(t => t.Id).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        var plain = Run(request with { Sampling = new SamplingOptions { Temperature = 0 } }).Select(t => t.Id).ToList();
        Assert.Equal(plain[0], ids[0]); // nothing generated yet: the first pick is the unpenalised one
    }

    [Fact]
    public void Warming_up_leaves_generation_unchanged()
    {
        var before = Run(Sampled(4)).Select(t => t.Id).ToList();
        _small.Model.WarmUp(sequences: 3, steps: 5);
        Assert.Equal(before, Run(Sampled(4)).Select(t => t.Id));
    }

    [Fact]
    public void Without_a_limit_it_fills_the_context()
    {
        var tokens = Run(Sampled(2, maxNewTokens: null));
        int prompt = tokens[^1].Summary!.PromptTokens;
        Assert.Equal(_small.Model.Config.SeqLen - prompt + 1, tokens.Count);
        Assert.Equal(FinishReason.ContextFull, tokens[^1].Finish);
    }

    [Fact]
    public void A_limit_beyond_the_context_is_cut_to_the_context()
    {
        var tokens = Run(Sampled(2, maxNewTokens: 10_000));
        Assert.Equal(FinishReason.ContextFull, tokens[^1].Finish);
    }

    [Fact]
    public void Same_seed_gives_the_same_tokens()
    {
        var a = Run(Sampled(42)).Select(t => t.Id);
        var b = Run(Sampled(42)).Select(t => t.Id);
        var c = Run(Sampled(43)).Select(t => t.Id);
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void Stop_sequence_ends_generation_and_is_not_emitted()
    {
        var free = Run(Sampled(5, maxNewTokens: 40));
        var text = free[^1].Summary!.GeneratedText;
        Assert.True(text.Length >= 6, $"generated text too short to test with: '{text}'");
        var stop = text.Substring(text.Length / 2, 2);
        int expectedEnd = text.IndexOf(stop, StringComparison.Ordinal);

        var stopped = Run(Sampled(5, maxNewTokens: 40) with { StopSequences = [stop] });
        Assert.Equal(FinishReason.StopSequence, stopped[^1].Finish);
        Assert.Equal(text[..expectedEnd], stopped[^1].Summary!.GeneratedText);
        Assert.Equal(text[..expectedEnd], string.Concat(stopped.Select(t => t.Text)));
        Assert.Equal(free.Take(stopped.Count).Select(t => t.Id), stopped.Select(t => t.Id));
    }

    [Fact]
    public void Token_ids_prompt_is_used_as_given()
    {
        var tokens = Run(new GenerationRequest { PromptIds = [1, 260, 261], MaxNewTokens = 3, Sampling = new() { Temperature = 0 } });
        Assert.Equal(3, tokens[^1].Summary!.PromptTokens);
    }

    [Theory]
    [InlineData(new[] { 1, 300 }, "outside the vocabulary")]
    [InlineData(new int[0], "empty")]
    public void Bad_prompts_are_refused(int[] ids, string problem)
    {
        var e = Assert.Throws<ArgumentException>(() => _small.Model.StartSequence(new GenerationRequest { PromptIds = ids }));
        Assert.Contains(problem, e.Message);
    }

    [Fact]
    public void A_prompt_longer_than_the_context_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() =>
            _small.Model.StartSequence(new GenerationRequest { PromptIds = Enumerable.Repeat(5, 65).ToArray() }));
        Assert.Contains("context is 64", e.Message);
    }
}

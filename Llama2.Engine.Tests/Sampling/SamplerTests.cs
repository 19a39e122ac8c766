using Llama2.Engine.Kernels;

namespace Llama2.Engine.Tests.Sampling;

public sealed class SamplerTests
{
    [Fact]
    public void Temperature_zero_is_argmax_with_its_log_probability()
    {
        var sampler = new Sampler(4, new SamplingOptions { Temperature = 0 });
        float[] logits = [1f, 3f, 2f, 0f];
        int token = sampler.Sample(logits, [], out float logprob);
        Assert.Equal(1, token);
        double expected = 3 - Math.Log(Math.Exp(1) + Math.Exp(3) + Math.Exp(2) + Math.Exp(0));
        Assert.Equal(expected, logprob, 5);
    }

    [Fact]
    public void Top_k_one_always_picks_the_most_likely_token()
    {
        var sampler = new Sampler(5, new SamplingOptions { Temperature = 5f, TopP = 0f, TopK = 1, Seed = 9 });
        for (int i = 0; i < 50; i++)
            Assert.Equal(2, sampler.Sample(new float[] { 1f, 1.5f, 2f, 0f, 1.9f }, [], out _));
    }

    [Fact]
    public void Top_k_samples_only_among_the_k_best()
    {
        var sampler = new Sampler(6, new SamplingOptions { Temperature = 10f, TopP = 0f, TopK = 2, Seed = 5 });
        var seen = new HashSet<int>();
        for (int i = 0; i < 200; i++) seen.Add(sampler.Sample(new float[] { 0f, 5f, 0f, 4.9f, 0f, 0f }, [], out _));
        Assert.Equal([1, 3], seen.Order());
    }

    [Fact]
    public void Repetition_penalty_makes_seen_tokens_less_likely()
    {
        var plain = new Sampler(3, new SamplingOptions { Temperature = 0 });
        var penalised = new Sampler(3, new SamplingOptions { Temperature = 0, RepetitionPenalty = 2f });
        Assert.Equal(0, plain.Sample(new float[] { 3f, 2f, -1f }, [0, 0], out _));
        // 3 / 2 = 1.5 < 2: token 1 wins once token 0 is penalised (once, though it was seen twice).
        Assert.Equal(1, penalised.Sample(new float[] { 3f, 2f, -1f }, [0, 0], out _));
        // A negative logit is multiplied: -1 → -2, so a seen negative token never gains.
        var logits = new float[] { -1f, -1.5f, -3f };
        Assert.Equal(1, penalised.Sample(logits, [0], out _));
    }

    [Fact]
    public void Same_seed_same_choices_different_seed_different_choices()
    {
        int[] Draw(ulong seed)
        {
            var sampler = new Sampler(50, new SamplingOptions { Temperature = 1f, TopP = 0.95f, Seed = seed });
            return Enumerable.Range(0, 40).Select(_ => sampler.Sample(new float[50], [], out float _)).ToArray();
        }
        Assert.Equal(Draw(3), Draw(3));
        Assert.NotEqual(Draw(3), Draw(4));
    }

    [Fact]
    public void Top_p_excludes_the_unlikely_tail()
    {
        // Probabilities ~ 0.6, 0.3, 0.1·(tiny): with top-p 0.8 only tokens 0 and 1 can come out.
        float[] logits = [MathF.Log(0.6f), MathF.Log(0.3f), MathF.Log(0.05f), MathF.Log(0.05f)];
        var sampler = new Sampler(4, new SamplingOptions { Temperature = 1f, TopP = 0.8f, Seed = 11 });
        var seen = new HashSet<int>();
        for (int i = 0; i < 300; i++) seen.Add(sampler.Sample((float[])logits.Clone(), [], out _));
        Assert.Equal([0, 1], seen.Order());
    }

    [Fact]
    public void Top_p_picks_what_a_plain_sort_in_run_c_order_picks_on_flat_peaked_and_tied_distributions()
    {
        var random = new Random(5);
        for (int trial = 0; trial < 300; trial++)
        {
            int vocab = trial % 3 == 0 ? 32000 : 2 + random.Next(2000);
            var logits = new float[vocab];
            for (int i = 0; i < vocab; i++)
                logits[i] = (trial % 4) switch
                {
                    0 => (float)random.NextDouble() * 0.01f,         // nearly flat: almost every token is a candidate
                    1 => (float)random.NextDouble() * 20f,           // peaked
                    2 => random.Next(4),                             // many exact ties
                    _ => (float)(random.NextDouble() * random.NextDouble() * 8),
                };
            var options = new SamplingOptions { Temperature = 0.5f + (float)random.NextDouble(), TopP = 0.05f + 0.9f * (float)random.NextDouble(), Seed = (ulong)(trial + 1) };

            var probabilities = logits.Select(l => l / options.Temperature).ToArray();
            Ops.Softmax(probabilities);
            var rng = new XorShiftRandom(options.Seed);
            float coin = rng.NextSingle();
            int expected = ReferenceTopP(probabilities, options.TopP, coin);

            int actual = new Sampler(vocab, options).Sample((float[])logits.Clone(), [], out _);
            Assert.True(expected == actual, $"trial {trial}: vocab {vocab}, top-p {options.TopP}: expected {expected}, got {actual}");
        }
    }

    // run.c's sample_topp with a comparison sort (descending probability, ties in index order).
    static int ReferenceTopP(float[] probabilities, float topP, float coin)
    {
        float cutoff = (1f - topP) / (probabilities.Length - 1);
        var candidates = probabilities.Select((p, i) => (P: p, I: i)).Where(c => c.P >= cutoff)
            .OrderByDescending(c => c.P).ThenBy(c => c.I).ToArray();
        float cumulative = 0f;
        int last = candidates.Length - 1;
        for (int i = 0; i < candidates.Length; i++)
        {
            cumulative += candidates[i].P;
            if (cumulative > topP) { last = i; break; }
        }
        float r = coin * cumulative, cdf = 0f;
        for (int i = 0; i <= last; i++)
        {
            cdf += candidates[i].P;
            if (r < cdf) return candidates[i].I;
        }
        return candidates[last].I;
    }

    [Fact]
    public void Seed_zero_samples_like_any_other_seed_not_like_argmax()
    {
        int[] Draw(ulong seed)
        {
            var sampler = new Sampler(50, new SamplingOptions { Temperature = 1f, TopP = 0f, Seed = seed });
            return Enumerable.Range(0, 40).Select(_ => sampler.Sample(new float[50], [], out float _)).ToArray();
        }
        var zero = Draw(0);
        Assert.Equal(zero, Draw(0));
        Assert.True(zero.Distinct().Count() > 10, "seed 0 must not be stuck on one token");
    }

    [Fact]
    public void Presence_and_frequency_penalties_lower_the_logits_of_generated_tokens_as_OpenAI_says()
    {
        // Token 0 is in the prompt only, token 1 was generated twice, token 2 once:
        // logit − frequency × count − presence × (count > 0).
        var sampler = new Sampler(3, new SamplingOptions { Temperature = 0, PresencePenalty = 0.5f, FrequencyPenalty = 0.25f });
        int token = sampler.Sample(new float[] { 3f, 2.5f, 1f }, [0, 1, 1, 2], generated: 3, out float logprob);
        Assert.Equal(0, token);
        double[] penalised = [3, 2.5 - 2 * 0.25 - 0.5, 1 - 0.25 - 0.5];
        Assert.Equal(3 - Math.Log(penalised.Sum(Math.Exp)), logprob, 5);

        // The penalties decide: token 0, generated twice, loses 2 × 0.4 and falls behind token 1.
        var frequent = new Sampler(3, new SamplingOptions { Temperature = 0, FrequencyPenalty = 0.4f });
        Assert.Equal(1, frequent.Sample(new float[] { 3f, 2.5f, 1f }, [0, 0], generated: 2, out _));
        Assert.Equal(0, frequent.Sample(new float[] { 3f, 2.5f, 1f }, [0, 0], generated: 0, out _)); // prompt only
        var present = new Sampler(3, new SamplingOptions { Temperature = 0, PresencePenalty = 0.4f });
        Assert.Equal(0, present.Sample(new float[] { 3f, 2.5f, 1f }, [0, 0], generated: 2, out _)); // once: 2.6 > 2.5
        var encouraged = new Sampler(3, new SamplingOptions { Temperature = 0, PresencePenalty = -2f });
        Assert.Equal(2, encouraged.Sample(new float[] { 3f, 2.5f, 1.5f }, [2], generated: 1, out _));
    }

    [Fact]
    public void Top_logprobs_are_the_most_likely_tokens_of_the_distribution_the_pick_came_from()
    {
        float[] logits = [1f, 4f, 2f, 4f, -1f, 3f];
        double LogSumExp(IEnumerable<double> xs) => Math.Log(xs.Sum(Math.Exp));

        // Greedy: the model's distribution; ties in id order; the pick is the first, with the same log-probability.
        var greedy = new Sampler(6, new SamplingOptions { Temperature = 0, TopLogprobs = 4 });
        int pick = greedy.Sample((float[])logits.Clone(), [], out float logprob);
        var top = greedy.TopLogprobs.ToArray();
        Assert.Equal([1, 3, 5, 2], top.Select(t => t.Id));
        double lse = LogSumExp(logits.Select(l => (double)l));
        foreach (var t in top) Assert.Equal(logits[t.Id] - lse, t.Logprob, 5);
        Assert.Equal(top[0], new TokenLogprob(pick, logprob));

        // Sampling at temperature 0.5: the tempered distribution, and the pick's log-probability is its entry.
        var sampled = new Sampler(6, new SamplingOptions { Temperature = 0.5f, TopP = 1f, TopLogprobs = 6, Seed = 3 });
        for (int draw = 0; draw < 20; draw++)
        {
            pick = sampled.Sample((float[])logits.Clone(), [], out logprob);
            top = sampled.TopLogprobs.ToArray();
            Assert.Equal([1, 3, 5, 2, 0, 4], top.Select(t => t.Id));
            lse = LogSumExp(logits.Select(l => l / 0.5));
            foreach (var t in top) Assert.Equal(logits[t.Id] / 0.5 - lse, t.Logprob, 4);
            Assert.Equal(top.Single(t => t.Id == pick).Logprob, logprob);
        }

        // Not asked for: nothing.
        var plain = new Sampler(6, new SamplingOptions { Temperature = 0 });
        plain.Sample((float[])logits.Clone(), [], out _);
        Assert.True(plain.TopLogprobs.IsEmpty);
    }

    [Fact]
    public void Top_logprobs_over_a_large_vocabulary_match_a_full_sort()
    {
        var random = new Random(9);
        var logits = Enumerable.Range(0, 32000).Select(_ => (float)(random.NextDouble() * 12) - 6).ToArray();
        logits[77] = logits[78] = 9f; // a tie at the top
        var sampler = new Sampler(logits.Length, new SamplingOptions { Temperature = 0, TopLogprobs = SamplingOptions.MaxTopLogprobs });
        sampler.Sample((float[])logits.Clone(), [], out _);
        var expected = logits.Select((l, i) => (L: l, I: i)).OrderByDescending(x => x.L).ThenBy(x => x.I).Take(20).Select(x => x.I);
        Assert.Equal(expected, sampler.TopLogprobs.ToArray().Select(t => t.Id));
    }

    [Theory]
    [InlineData(-0.1f, 0.9f, 0, 1f, "temperature")]
    [InlineData(float.NaN, 0.9f, 0, 1f, "temperature")]
    [InlineData(1f, float.NaN, 0, 1f, "top_p")]
    [InlineData(1f, 0.9f, -1, 1f, "top_k")]
    [InlineData(1f, 0.9f, 0, 0f, "repetition_penalty")]
    public void Invalid_options_are_named(float temperature, float topP, int topK, float penalty, string name)
    {
        var problems = new SamplingOptions { Temperature = temperature, TopP = topP, TopK = topK, RepetitionPenalty = penalty }.Validate();
        Assert.Contains(name, Assert.Single(problems).Message);
    }

    [Fact]
    public void Penalties_must_be_finite_and_top_logprobs_at_most_twenty()
    {
        Assert.Contains("presence_penalty", Assert.Single(new SamplingOptions { PresencePenalty = float.NaN }.Validate()).Message);
        Assert.Contains("frequency_penalty", Assert.Single(new SamplingOptions { FrequencyPenalty = float.PositiveInfinity }.Validate()).Message);
        Assert.Contains("top_logprobs", Assert.Single(new SamplingOptions { TopLogprobs = 21 }.Validate()).Message);
        Assert.Contains("top_logprobs", Assert.Single(new SamplingOptions { TopLogprobs = -1 }.Validate()).Message);
        Assert.Empty(new SamplingOptions { TopLogprobs = 20, PresencePenalty = -2, FrequencyPenalty = 2 }.Validate());
    }
}

using Llama2.Engine.Sampling;

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
            Sampler.Softmax(probabilities);
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
}

namespace Llama2.Engine.Tests.Batching;

/// <summary>
/// One forward pass over rows of many sequences (what the scheduler runs each step) gives every sequence exactly what
/// it gets alone: the same logits bit for bit and the same KV cache.
/// </summary>
public sealed class TokenBatchTests : IDisposable
{
    readonly TempDirectory _dir = new();
    readonly Checkpoint _checkpoint;
    readonly Transformer _transformer;

    public TokenBatchTests()
    {
        // Grouped-query attention and an unshared classifier: the batched paths cover both.
        var config = TestModels.Small(sharedClassifier: false, kvHeads: 2, vocab: 300, seqLen: 64);
        var (path, _) = TestModels.WriteSmallModel(_dir, config, version: 1, seed: 11);
        _checkpoint = Checkpoint.Open(path);
        _transformer = new Transformer(_checkpoint);
    }

    int[] Prompt(int seed, int length)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => random.Next(3, _transformer.Config.VocabSize)).ToArray();
    }

    [Fact]
    public void Decode_rows_of_eight_sequences_and_a_prompt_chunk_in_one_pass_match_each_sequence_alone()
    {
        var c = _transformer.Config;
        int[] promptLengths = [1, 3, 7, 12, 20, 31, 40, 50];
        var prompts = promptLengths.Select((n, i) => Prompt(100 + i, n)).ToArray();

        // Alone: each sequence prefilled, then one more token decoded.
        var alone = prompts.Select(p =>
        {
            var s = _transformer.CreateState();
            _transformer.Prefill(p, 0, s);
            return (State: s, Logits: _transformer.Forward(7, p.Length, s).ToArray());
        }).ToArray();
        var joiningAlone = _transformer.CreateState();
        var joiningPrompt = Prompt(999, 9);
        float[] joiningLogits = _transformer.Prefill(joiningPrompt, 0, joiningAlone).ToArray();

        // Together: the same prefills, then one batch holding the eight decode rows and the whole joining prompt.
        var states = prompts.Select(p =>
        {
            var s = _transformer.CreateState();
            _transformer.Prefill(p, 0, s);
            return s;
        }).ToArray();
        var joining = _transformer.CreateState();
        var batch = new TokenBatch(c, capacity: 32, maxLogits: 9);
        var logitsIndex = new int[prompts.Length];
        for (int i = 0; i < prompts.Length; i++) logitsIndex[i] = batch.Add(states[i], 7, prompts[i].Length, logits: true);
        int joiningIndex = -1;
        for (int t = 0; t < joiningPrompt.Length; t++)
            joiningIndex = batch.Add(joining, joiningPrompt[t], t, logits: t == joiningPrompt.Length - 1);
        Assert.Equal(8 + 9, batch.Count);
        _transformer.Forward(batch);

        for (int i = 0; i < prompts.Length; i++)
        {
            Bitwise.AssertEqual(alone[i].Logits, batch.Logits(logitsIndex[i]), $"sequence {i}");
            for (int l = 0; l < c.NLayers; l++)
            {
                Bitwise.AssertEqual(alone[i].State.Key(l, prompts[i].Length), states[i].Key(l, prompts[i].Length), $"key, sequence {i}, layer {l}");
                Bitwise.AssertEqual(alone[i].State.Value(l, prompts[i].Length), states[i].Value(l, prompts[i].Length), $"value, sequence {i}, layer {l}");
            }
        }
        Bitwise.AssertEqual(joiningLogits, batch.Logits(joiningIndex), "the joining prompt");
    }

    [Fact]
    public void A_batch_refuses_what_does_not_fit_and_can_be_reused()
    {
        var c = _transformer.Config;
        var batch = new TokenBatch(c, capacity: 2, maxLogits: 1);
        var s = _transformer.CreateState();
        Assert.Throws<ArgumentOutOfRangeException>(() => batch.Add(s, c.VocabSize, 0, logits: false));
        Assert.Throws<ArgumentOutOfRangeException>(() => batch.Add(s, 1, c.SeqLen, logits: false));
        Assert.Equal(0, batch.Count);
        Assert.Equal(0, batch.Add(s, 1, 0, logits: true));
        Assert.Throws<InvalidOperationException>(() => batch.Add(s, 2, 1, logits: true)); // one logits row only
        Assert.Equal(-1, batch.Add(s, 2, 1, logits: false));
        Assert.Throws<InvalidOperationException>(() => batch.Add(s, 3, 2, logits: false)); // full
        Assert.Throws<ArgumentOutOfRangeException>(() => batch.Logits(1));

        var other = new TokenBatch(c with { SeqLen = 32 }, capacity: 2, maxLogits: 1);
        Assert.Throws<ArgumentException>(() => other.Add(s, 1, 0, logits: false));
        Assert.Throws<ArgumentException>(() => _transformer.Forward(other));

        // Reused after Clear: the two-token prompt through the batch equals Prefill.
        _transformer.Forward(batch);
        batch.Clear();
        batch.Add(s, 5, 2, logits: true);
        _transformer.Forward(batch);
        var reference = _transformer.CreateState();
        Bitwise.AssertEqual(_transformer.Prefill([1, 2, 5], 0, reference), batch.Logits(0), "after reuse");
    }

    [Fact]
    public void A_sequence_with_a_shorter_cache_computes_the_same_and_refuses_positions_beyond_it()
    {
        var c = _transformer.Config;
        var prompt = Prompt(5, 16);
        var full = _transformer.CreateState();
        var capped = _transformer.CreateState(contextLength: 16);
        Assert.Equal(16, capped.ContextLength);
        Assert.True(capped.KvCacheBytes * 4 == full.KvCacheBytes); // 16 of 64 positions

        Bitwise.AssertEqual(_transformer.Prefill(prompt, 0, full), _transformer.Prefill(prompt, 0, capped), "16 positions");
        var refused = Assert.Throws<ArgumentOutOfRangeException>(() => _transformer.Forward(1, 16, capped));
        Assert.Contains("0..15", refused.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => _transformer.Prefill(prompt, 1, capped));
        Assert.Throws<ArgumentOutOfRangeException>(() => _transformer.CreateState(contextLength: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => _transformer.CreateState(contextLength: c.SeqLen + 1));
    }

    [Fact]
    public void A_committed_cache_reused_after_another_sequence_computes_the_same_as_a_fresh_one()
    {
        var fresh = _transformer.CreateState();
        var reused = _transformer.CreateState();
        _transformer.Prefill(Prompt(7, 40), 0, reused); // leaves another sequence's rows behind
        reused.Commit();
        var prompt = Prompt(5, 16);
        Bitwise.AssertEqual(_transformer.Prefill(prompt, 0, fresh), _transformer.Prefill(prompt, 0, reused), "prompt");
        Bitwise.AssertEqual(_transformer.Forward(3, 16, fresh), _transformer.Forward(3, 16, reused), "next token");
    }

    public void Dispose()
    {
        _checkpoint.Dispose();
        _dir.Dispose();
    }
}

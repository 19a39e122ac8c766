using System.Collections.Concurrent;
using Llama2.Engine.Scheduling;

namespace Llama2.Engine.Tests.Scheduling;

/// <summary>
/// Continuous batching on tiny32k: every step is one forward pass over all active sequences, and what a sequence
/// generates does not depend on what it runs with.
/// </summary>
public sealed class BatchingTests : Tiny32kTests
{
    static GenerationRequest Sampled(string prompt, int maxNewTokens, ulong seed) => new()
    {
        Prompt = prompt,
        MaxNewTokens = maxNewTokens,
        Sampling = new SamplingOptions { Temperature = 1f, TopP = 0.9f, Seed = seed },
        StopAtEos = false,
    };

    List<int> Alone(GenerationRequest request) => Generations.IdsAlone(Model, request);

    static async Task<List<int>> ReadIds(ScheduledGeneration generation) =>
        (await Generations.ReadAllAsync(generation)).Select(t => t.Id).ToList();

    static ScheduledGeneration Submit(GenerationScheduler scheduler, GenerationRequest request, CancellationToken? cancel = null)
    {
        Assert.True(scheduler.TrySubmit(request, cancel ?? TestToken, out var generation));
        return generation;
    }

    [Fact]
    public async Task A_seeded_request_gives_the_same_tokens_alone_and_in_a_batch_of_eight()
    {
        var request = Sampled("Once upon a time", 60, seed: 42);
        var expected = Alone(request);

        await using var scheduler = new GenerationScheduler(Model, new SchedulerOptions { MaxConcurrentSequences = 8, TokenBufferSize = 128 });
        var steps = new ConcurrentQueue<SchedulerStep>();
        scheduler.Stepped += steps.Enqueue;
        // Seven others with their own prompts, seeds and lengths, started first so the seeded one joins a running batch.
        var others = Enumerable.Range(0, 7)
            .Select(i => Submit(scheduler, Sampled($"The {i} little dogs said", 40 + 7 * i, seed: (ulong)(100 + i))))
            .ToList();
        foreach (var other in others) Assert.True(await other.Tokens.WaitToReadAsync(TestToken));
        var seeded = Submit(scheduler, request);

        Assert.Equal(expected, await ReadIds(seeded));
        foreach (var (other, i) in others.Select((o, i) => (o, i)))
            Assert.Equal(Alone(Sampled($"The {i} little dogs said", 40 + 7 * i, seed: (ulong)(100 + i))), await ReadIds(other));
        Assert.Contains(steps, s => s.Sequences == 8); // they really ran as one batch
    }

    [Fact]
    public async Task A_long_prompt_joining_is_fed_in_chunks_while_the_running_streams_keep_advancing()
    {
        await using var scheduler = new GenerationScheduler(Model,
            new SchedulerOptions { MaxConcurrentSequences = 4, TokenBufferSize = 128, PrefillChunkTokens = 8 });
        var running = new[] { Sampled("Once upon a time", 100, 1), Sampled("The cat sat", 100, 2) };
        var streams = running.Select(r => Submit(scheduler, r)).ToList();
        foreach (var stream in streams) Assert.True(await stream.Tokens.WaitToReadAsync(TestToken));

        var steps = new ConcurrentQueue<SchedulerStep>();
        scheduler.Stepped += steps.Enqueue;
        int[] longPrompt = [1, .. Enumerable.Range(0, 95).Select(i => 300 + 13 * i)];
        var joining = Submit(scheduler, new GenerationRequest { PromptIds = longPrompt, MaxNewTokens = 3, StopAtEos = false });
        var joined = await ReadIds(joining);

        Assert.Equal(3, joined.Count);
        var prefillSteps = steps.Where(s => s.PromptTokens > 0).ToList();
        Assert.Equal(longPrompt.Length, prefillSteps.Sum(s => s.PromptTokens));
        Assert.Equal(12, prefillSteps.Count); // 96 tokens, 8 per step
        Assert.All(prefillSteps, s =>
        {
            Assert.True(s.PromptTokens <= 8, $"a chunk of {s.PromptTokens} prompt tokens");
            Assert.Equal(2, s.DecodeTokens); // both running streams got a token in every one of those steps
        });
        for (int i = 0; i < running.Length; i++) Assert.Equal(Alone(running[i]), await ReadIds(streams[i]));
    }

    [Fact]
    public async Task Sequences_whose_context_shifts_in_a_batch_give_their_tokens_alone()
    {
        // Four sequences of two or three contexts each, shifting at different steps (their own keep and discard): a
        // shifting sequence feeds its kept tokens again in chunks while the others decode.
        var requests = new[]
        {
            Sampled("Once upon a time", 3 * 128, seed: 3) with { ContextShift = new ContextShift() },
            Sampled("The cat sat", 300, seed: 4) with { ContextShift = new ContextShift { Keep = 3, Discard = 20 } },
            Sampled("A dog", 260, seed: 5) with { ContextShift = new ContextShift { Keep = 1, Discard = 100 } },
            Sampled("Story number 9:", 280, seed: 6) with { ContextShift = new ContextShift { Keep = 0 } },
        };
        await using var scheduler = new GenerationScheduler(Model,
            new SchedulerOptions { MaxConcurrentSequences = 4, TokenBufferSize = 512, PrefillChunkTokens = 16 });
        var streams = requests.Select(r => Submit(scheduler, r)).ToList();
        foreach (var stream in streams) Assert.True(await stream.Tokens.WaitToReadAsync(TestToken));
        var steps = new ConcurrentQueue<SchedulerStep>();
        scheduler.Stepped += steps.Enqueue; // from here on, prompt tokens are those fed again after a shift

        for (int i = 0; i < requests.Length; i++)
        {
            var tokens = await Generations.ReadAllAsync(streams[i]);
            Assert.Equal(Alone(requests[i]), tokens.Select(t => t.Id));
            Assert.True(tokens[^1].Summary!.ContextShifts > 0, $"request {i} never shifted");
        }
        Assert.Contains(steps, s => s.PromptTokens > 0 && s.DecodeTokens > 0);
        Assert.All(steps.Where(s => s.DecodeTokens > 0), s => Assert.True(s.PromptTokens <= 16, $"a chunk of {s.PromptTokens} tokens fed again beside decoding"));
    }

    [Fact]
    public async Task A_disconnect_mid_batch_frees_the_slot_and_leaves_the_others_unchanged()
    {
        await using var scheduler = new GenerationScheduler(Model,
            new SchedulerOptions { MaxConcurrentSequences = 4, MaxQueueLength = 4, TokenBufferSize = 4 });
        var requests = Enumerable.Range(0, 4).Select(i => Sampled($"Story number {i}:", 50, (ulong)(7 + i))).ToArray();
        using var disconnect = CancellationTokenSource.CreateLinkedTokenSource(TestToken);
        var streams = requests.Select((r, i) => Submit(scheduler, r, i == 1 ? disconnect.Token : null)).ToList();
        // Nobody reads yet: each stream fills its 4-token buffer and pauses, holding its slot.
        await Poll.Until(() => streams.All(s => s.Tokens.Count == 4), "every stream has filled its buffer");
        Assert.Equal(4, scheduler.ActiveSequences);

        disconnect.Cancel();
        await Poll.Until(() => scheduler.ActiveSequences == 3, "the disconnected stream's slot is free");
        var late = Submit(scheduler, Sampled("A late request", 10, 99)); // gets the freed slot while the others still hold theirs
        Assert.Equal(Alone(Sampled("A late request", 10, 99)), await ReadIds(late));
        Assert.Equal(3, scheduler.ActiveSequences);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ReadIds(streams[1]));
        foreach (int i in new[] { 0, 2, 3 }) Assert.Equal(Alone(requests[i]), await ReadIds(streams[i]));
        await Poll.Until(() => scheduler.ActiveSequences == 0, "every slot is free");
    }

    [Fact]
    public async Task Context_tokens_per_slot_caps_prompt_plus_generated_tokens()
    {
        await using var scheduler = new GenerationScheduler(Model, new SchedulerOptions { MaxConcurrentSequences = 2, ContextTokensPerSlot = 24 });
        Assert.Equal(24, scheduler.ContextLength);

        // No max_new_tokens: the sequence runs until its slot's context is full (the last token need not be fed).
        var open = new GenerationRequest { PromptIds = [1, 400, 500, 600], StopAtEos = false, Sampling = new SamplingOptions { Temperature = 0 } };
        var tokens = await Generations.ReadAllAsync(Submit(scheduler, open));
        Assert.Equal(24 - 4 + 1, tokens.Count);
        Assert.Equal(FinishReason.ContextFull, tokens[^1].Finish);
        var unlimited = Model.StartSequence(open);
        var expected = new List<int>();
        while (expected.Count < tokens.Count && unlimited.Next() is { } t) expected.Add(t.Id);
        Assert.Equal(expected, tokens.Select(t => t.Id)); // the same tokens as with the model's whole context

        var tooLong = Submit(scheduler, new GenerationRequest { PromptIds = [1, .. Enumerable.Range(300, 24)] });
        var error = await Assert.ThrowsAsync<ArgumentException>(() => ReadIds(tooLong));
        Assert.Contains("the context is 24", error.Message);

        await using var uncapped = new GenerationScheduler(Model, new SchedulerOptions { ContextTokensPerSlot = 100_000 });
        Assert.Equal(Model.Config.SeqLen, uncapped.ContextLength);
    }
}

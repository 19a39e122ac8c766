using Llama2.Engine.Scheduling;

namespace Llama2.Engine.Tests.Scheduling;

/// <summary>The scheduler on its own, on tiny32k: queueing, slots, interleaving, pausing, cancellation.</summary>
public sealed class GenerationSchedulerTests : Tiny32kTests
{
    static GenerationRequest Greedy(string prompt, int maxNewTokens) => new()
    {
        Prompt = prompt,
        MaxNewTokens = maxNewTokens,
        Sampling = new SamplingOptions { Temperature = 0 },
        StopAtEos = false,
    };

    List<int> Direct(GenerationRequest request) => Generations.IdsAlone(Model, request);

    static Task<List<GeneratedToken>> ReadAll(ScheduledGeneration generation) => Generations.ReadAllAsync(generation);

    [Fact]
    public async Task Concurrent_sequences_give_the_tokens_each_gives_alone()
    {
        await using var scheduler = new GenerationScheduler(Model, new SchedulerOptions { MaxConcurrentSequences = 2, MaxQueueLength = 8 });
        string[] prompts = ["Once upon a time", "The cat", "Hello world, said the", "A"];
        var generations = prompts.Select(p =>
        {
            Assert.True(scheduler.TrySubmit(Greedy(p, 30), TestToken, out var g));
            return g;
        }).ToList();

        var results = await Task.WhenAll(generations.Select(ReadAll));

        for (int i = 0; i < prompts.Length; i++)
        {
            Assert.Equal(Direct(Greedy(prompts[i], 30)), results[i].Select(t => t.Id));
            Assert.Equal(FinishReason.Length, results[i][^1].Finish);
            Assert.NotNull(results[i][^1].Summary);
        }
        await Poll.Until(() => scheduler.ActiveSequences == 0, "every slot is free");
        Assert.Equal(0, scheduler.QueueDepth);
    }

    [Fact]
    public async Task Active_sequences_are_interleaved_and_a_slow_reader_pauses_only_its_own()
    {
        await using var scheduler = new GenerationScheduler(Model,
            new SchedulerOptions { MaxConcurrentSequences = 2, MaxQueueLength = 4, TokenBufferSize = 1 });
        Assert.True(scheduler.TrySubmit(Greedy("Once upon a time", 50), TestToken, out var slow));
        Assert.True(scheduler.TrySubmit(Greedy("The cat", 20), TestToken, out var fast));

        // Nobody reads "slow": it stops one token ahead, holding its slot, while "fast" runs to the end.
        var fastTokens = await ReadAll(fast);
        Assert.Equal(20, fastTokens.Count);
        await Poll.Until(() => slow.Tokens.Count == 1, "the slow sequence has filled its one-token buffer");
        Assert.Equal(1, scheduler.ActiveSequences);

        var slowTokens = await ReadAll(slow);
        Assert.Equal(Direct(Greedy("Once upon a time", 50)), slowTokens.Select(t => t.Id));
    }

    [Fact]
    public async Task A_full_queue_refuses_and_a_cancelled_sequence_frees_its_slot_at_the_next_token()
    {
        await using var scheduler = new GenerationScheduler(Model,
            new SchedulerOptions { MaxConcurrentSequences = 1, MaxQueueLength = 1, TokenBufferSize = 2 });
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(TestToken);
        Assert.True(scheduler.TrySubmit(Greedy("Once upon a time", 100), cancel.Token, out var held));
        Assert.True(await held.Tokens.WaitToReadAsync(TestToken));
        await Poll.Until(() => scheduler.ActiveSequences == 1, "the first request holds the slot");

        Assert.True(scheduler.TrySubmit(Greedy("The cat", 5), TestToken, out var queued));
        Assert.Equal(1, scheduler.QueueDepth);
        Assert.False(scheduler.TrySubmit(Greedy("A dog", 5), TestToken, out var refused));
        Assert.Null(refused);

        cancel.Cancel();
        int received = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in held.Tokens.ReadAllAsync(TestToken)) received++;
        });
        Assert.InRange(received, 1, 3); // what was buffered (2), maybe one more; never the 100 asked for

        var next = await ReadAll(queued);
        Assert.Equal(5, next.Count);
        Assert.True(queued.QueueTime > TimeSpan.Zero);
        await Poll.Until(() => scheduler.ActiveSequences == 0, "the slot is free again");
    }

    [Fact]
    public async Task A_request_cancelled_while_queued_never_starts()
    {
        await using var scheduler = new GenerationScheduler(Model,
            new SchedulerOptions { MaxConcurrentSequences = 1, MaxQueueLength = 4, TokenBufferSize = 1 });
        Assert.True(scheduler.TrySubmit(Greedy("Once upon a time", 50), TestToken, out var held));
        await Poll.Until(() => scheduler.ActiveSequences == 1, "the first request holds the slot");
        using var cancel = new CancellationTokenSource();
        Assert.True(scheduler.TrySubmit(Greedy("The cat", 5), cancel.Token, out var queued));
        cancel.Cancel();

        await ReadAll(held);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ReadAll(queued));
        Assert.False(queued.HasStarted);
    }

    [Fact]
    public async Task A_bad_request_fails_its_own_channel_only()
    {
        await using var scheduler = new GenerationScheduler(Model, new SchedulerOptions { MaxConcurrentSequences = 1 });
        Assert.True(scheduler.TrySubmit(new GenerationRequest { PromptIds = [1, 999_999] }, TestToken, out var bad));
        var error = await Assert.ThrowsAsync<ArgumentException>(() => ReadAll(bad));
        Assert.Contains("outside the vocabulary", error.Message);

        Assert.True(scheduler.TrySubmit(Greedy("The cat", 3), TestToken, out var good));
        Assert.Equal(3, (await ReadAll(good)).Count);
    }

    [Fact]
    public async Task Disposing_ends_running_and_queued_requests()
    {
        var scheduler = new GenerationScheduler(Model, new SchedulerOptions { MaxConcurrentSequences = 1, TokenBufferSize = 1 });
        Assert.True(scheduler.TrySubmit(Greedy("Once upon a time", 50), TestToken, out var running));
        Assert.True(scheduler.TrySubmit(Greedy("The cat", 5), TestToken, out var queued));
        await Poll.Until(() => scheduler.ActiveSequences == 1, "the first request holds the slot");

        await scheduler.DisposeAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ReadAll(running));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ReadAll(queued));
        Assert.Throws<ObjectDisposedException>(() => scheduler.TrySubmit(Greedy("A", 1), TestToken, out _));
    }
}

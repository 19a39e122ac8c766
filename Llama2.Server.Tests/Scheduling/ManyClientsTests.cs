using System.Collections.Concurrent;
using System.Diagnostics;
using Llama2.Engine.Scheduling;
using Llama2.Server.Metrics;

namespace Llama2.Server.Tests.Scheduling;

/// <summary>
/// The whole server (HTTP pipeline, validation, scheduler, Server-Sent Events) under many concurrent streaming
/// clients on tiny32k with 8 sequence slots: nothing is lost or leaked when clients come and go, a seeded stream does
/// not depend on who it shares the batch with, and streams that run together advance together.
/// </summary>
public sealed class ManyClientsTests
{
    static readonly string[] Prompts = ["Once upon a time", "The cat", "Hello world, said the", "A little dog"];

    static string StreamRequest(string prompt, int maxNewTokens, ulong seed, float? topP = null) => JsonSerializer.Serialize(new
    {
        inputs = prompt,
        parameters = new Dictionary<string, object>
        {
            ["max_new_tokens"] = maxNewTokens,
            ["temperature"] = 1.0,
            ["seed"] = seed,
            ["top_p"] = topP ?? 1.0,
        },
    });

    /// <summary>
    /// Checks a stream that ran to its end: token events numbered 1..n, no error event, and a last event whose details
    /// agree with what was streamed. Returns the finish reason. (The API always stops at EOS, so a sampled stream may
    /// end early with eos_token; then the last token is the special EOS/BOS token.)
    /// </summary>
    static string AssertCompleteStream(List<JsonElement> events, int maxNewTokens, ulong seed)
    {
        Assert.NotEmpty(events);
        for (int i = 0; i < events.Count; i++)
        {
            var e = events[i];
            Assert.False(e.TryGetProperty("error", out _), $"error event: {e}");
            Assert.Equal(i + 1, e.GetProperty("index").GetInt32());
            Assert.Equal(JsonValueKind.Number, e.GetProperty("token").GetProperty("id").ValueKind);
            bool last = i == events.Count - 1;
            Assert.Equal(last ? JsonValueKind.Object : JsonValueKind.Null, e.GetProperty("details").ValueKind);
        }
        var details = events[^1].GetProperty("details");
        var reason = details.GetProperty("finish_reason").GetString()!;
        Assert.Equal(events.Count, details.GetProperty("generated_tokens").GetInt32());
        Assert.Equal(seed, details.GetProperty("seed").GetUInt64());
        switch (reason)
        {
            case "length":
                Assert.Equal(maxNewTokens, events.Count);
                break;
            case "eos_token":
                Assert.InRange(events.Count, 1, maxNewTokens);
                Assert.True(events[^1].GetProperty("token").GetProperty("special").GetBoolean(), "an eos_token stream ends with the special token");
                break;
            default:
                Assert.Fail($"unexpected finish reason {reason} (no stop sequences were given)");
                break;
        }
        Assert.Equal(string.Concat(events.Select(e => e.GetProperty("token").GetProperty("text").GetString())),
            events[^1].GetProperty("generated_text").GetString());
        return reason;
    }

    static List<int> TokenIds(List<JsonElement> events) => events.Select(e => e.GetProperty("token").GetProperty("id").GetInt32()).ToList();

    sealed record Outcome(int Index, bool Abandoned, HttpStatusCode Status, string? FinishReason, int Tokens);

    [Fact]
    public async Task Thousand_short_requests_with_fifty_disconnects_complete_and_leak_no_slot()
    {
        const int Requests = 1000, Clients = 32, ShortTokens = 8;
        // Abandoned requests ask for many tokens, so that the disconnect lands while the sequence is still generating
        // however fast the engine gets (today, at a few ms per step, it does even with 8).
        const int AbandonedTokens = 100;
        static bool IsAbandoned(int i) => i % 20 == 7; // 50 of the 1000, evenly spread over the run

        // The queue holds one request per client: a client has at most one request outstanding, and an abandoned
        // request was already running (it sent a token), so it can hold a slot after its client moved on but never a
        // place in the queue. Hence no request can be refused with 429, and any 429 is a failure.
        await using var factory = ServerFactory.Tiny32k(
            ("Model:MaxConcurrentSequences", "8"), ("Model:MaxQueueLength", Clients.ToString()));
        var client = await factory.CreateReadyClientAsync();
        var scheduler = factory.Scheduler;
        long completedBefore = scheduler.CompletedSequences;

        var outcomes = new ConcurrentBag<Outcome>();
        int next = -1;
        async Task RunClient()
        {
            for (int i = Interlocked.Increment(ref next); i < Requests; i = Interlocked.Increment(ref next))
            {
                bool abandoned = IsAbandoned(i);
                ulong seed = (ulong)i + 1;
                var json = StreamRequest(Prompts[i % Prompts.Length], abandoned ? AbandonedTokens : ShortTokens, seed);
                if (!abandoned)
                {
                    using var response = await client.PostJsonAsync("/generate_stream", json, HttpCompletionOption.ResponseHeadersRead);
                    if (response.StatusCode != HttpStatusCode.OK)
                    {
                        outcomes.Add(new Outcome(i, false, response.StatusCode, null, 0));
                        continue;
                    }
                    var events = await response.ReadAllEventsAsync();
                    outcomes.Add(new Outcome(i, false, response.StatusCode, AssertCompleteStream(events, ShortTokens, seed), events.Count));
                    continue;
                }

                using var leave = CancellationTokenSource.CreateLinkedTokenSource(TestToken);
                using (var response = await client.SendJsonAsync("/generate_stream", json, HttpCompletionOption.ResponseHeadersRead, leave.Token))
                {
                    int tokens = 0;
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        await foreach (var first in response.ReadEventsAsync())
                        {
                            Assert.Equal(1, first.GetProperty("index").GetInt32());
                            tokens = 1;
                            break; // leaving the loop disposes the reader, and so the response stream
                        }
                    }
                    leave.Cancel(); // the client goes away after its first token
                    outcomes.Add(new Outcome(i, true, response.StatusCode, null, tokens));
                }
            }
        }

        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, Clients).Select(_ => Task.Run(RunClient, TestToken)));
        var clientsDone = clock.Elapsed;

        var all = outcomes.OrderBy(o => o.Index).ToList();
        Assert.Equal(Enumerable.Range(0, Requests), all.Select(o => o.Index));
        Assert.All(all, o => Assert.Equal(HttpStatusCode.OK, o.Status));
        var abandonedOutcomes = all.Where(o => o.Abandoned).ToList();
        var completed = all.Where(o => !o.Abandoned).ToList();
        Assert.Equal(50, abandonedOutcomes.Count);
        Assert.All(abandonedOutcomes, o => Assert.Equal(1, o.Tokens)); // each really got its first token before leaving
        Assert.Equal(950, completed.Count);

        // Every slot comes back and nothing is left waiting: the scheduler retires the abandoned sequences at their
        // next step. /info reads the same numbers.
        var metrics = factory.Services.GetRequiredService<ServerMetrics>();
        double Ended(string reason) => metrics.Generations.WithLabels("generate_stream", reason).Value;
        await Poll.Until(() => scheduler.ActiveSequences == 0 && scheduler.QueueDepth == 0
            && scheduler.CompletedSequences - completedBefore == Requests
            && Ended("length") + Ended("eos_token") + Ended("cancelled") == Requests, "every request has ended and freed its slot");
        using (var info = await client.GetAsync("/info", TestToken))
        {
            Assert.Equal(HttpStatusCode.OK, info.StatusCode);
            var body = await info.ReadJsonAsync();
            Assert.Equal(0, body.GetProperty("active_sequences").GetInt32());
            Assert.Equal(0, body.GetProperty("queue_depth").GetInt32());
        }

        // The server's counters agree with what the clients saw. An abandoned request counts as cancelled, or as
        // finished if its last token was already out when the disconnect reached the server.
        using var scrape = await client.GetAsync("/metrics", TestToken);
        var after = new PrometheusText(await scrape.Content.ReadAsStringAsync(TestToken));
        double length = after["llama2_generations_total", ("endpoint", "generate_stream"), ("finish_reason", "length")];
        double eos = after["llama2_generations_total", ("endpoint", "generate_stream"), ("finish_reason", "eos_token")];
        double cancelled = after["llama2_generations_total", ("endpoint", "generate_stream"), ("finish_reason", "cancelled")];
        Assert.Equal(0, after["llama2_generations_total", ("endpoint", "generate_stream"), ("finish_reason", "error")]);
        Assert.Equal(Requests, length + eos + cancelled);
        Assert.InRange(cancelled, 1, 50); // the disconnects really reached running sequences
        Assert.True(length >= completed.Count(o => o.FinishReason == "length"), $"{length} counted as length");
        Assert.True(eos >= completed.Count(o => o.FinishReason == "eos_token"), $"{eos} counted as eos_token");
        Assert.True(after["llama2_generated_tokens_total"] >= completed.Sum(o => o.Tokens) + abandonedOutcomes.Count);
        Assert.Equal(0, after["llama2_active_sequences"]);
        Assert.Equal(0, after["llama2_queue_depth"]);

        TestContext.Current.TestOutputHelper?.WriteLine(
            $"{Requests} requests from {Clients} clients in {clientsDone.TotalSeconds:0.00} s; server counted {length} length, " +
            $"{eos} eos_token, {cancelled} cancelled; clients saw {completed.Count(o => o.FinishReason == "eos_token")} eos_token");
    }

    [Fact]
    public async Task Seeded_stream_gives_the_same_tokens_alone_and_among_seven_others()
    {
        const int SeededTokens = 40, OtherTokens = 110; // the others have ~100 tokens to go when the seeded one starts
        var seeded = StreamRequest("Once upon a time", SeededTokens, seed: 42, topP: 0.9f);
        await using var factory = ServerFactory.Tiny32k(("Model:MaxConcurrentSequences", "8"), ("Model:MaxQueueLength", "8"));
        var client = await factory.CreateReadyClientAsync();
        var scheduler = factory.Scheduler;

        List<JsonElement> alone;
        using (var response = await client.PostJsonAsync("/generate_stream", seeded, HttpCompletionOption.ResponseHeadersRead))
            alone = await response.ReadAllEventsAsync();
        Assert.Equal("length", AssertCompleteStream(alone, SeededTokens, 42));

        // Seven others with their own prompts and seeds, long enough to outlast the seeded one, read as they come.
        var firstTokens = new List<TaskCompletionSource>();
        var others = new List<Task<List<JsonElement>>>();
        for (int i = 0; i < 7; i++)
        {
            var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            firstTokens.Add(first);
            var json = StreamRequest($"The {i} little dogs said", OtherTokens, seed: (ulong)(100 + i), topP: 0.9f);
            others.Add(Task.Run(async () =>
            {
                try
                {
                    using var response = await client.PostJsonAsync("/generate_stream", json, HttpCompletionOption.ResponseHeadersRead);
                    Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                    var events = new List<JsonElement>();
                    await foreach (var e in response.ReadEventsAsync())
                    {
                        events.Add(e);
                        first.TrySetResult();
                    }
                    return events;
                }
                finally
                {
                    first.TrySetResult(); // also when the stream failed: the wait below ends and the failure is reported
                }
            }, TestToken));
        }
        await Task.WhenAll(firstTokens.Select(f => f.Task)).WaitAsync(TestToken);

        var steps = new ConcurrentQueue<SchedulerStep>();
        void OnStep(SchedulerStep step) => steps.Enqueue(step);
        scheduler.Stepped += OnStep;
        List<JsonElement> among;
        try
        {
            Assert.Equal(7, scheduler.ActiveSequences);
            using var response = await client.PostJsonAsync("/generate_stream", seeded, HttpCompletionOption.ResponseHeadersRead);
            among = await response.ReadAllEventsAsync();
        }
        finally
        {
            scheduler.Stepped -= OnStep;
        }

        Assert.Equal("length", AssertCompleteStream(among, SeededTokens, 42));
        Assert.Equal(TokenIds(alone), TokenIds(among));
        Assert.Equal(alone[^1].GetProperty("generated_text").GetString(), among[^1].GetProperty("generated_text").GetString());
        Assert.Contains(steps, s => s.Sequences == 8); // the seeded one really was batched with all seven others
        for (int i = 0; i < others.Count; i++) AssertCompleteStream(await others[i], OtherTokens, (ulong)(100 + i));
    }

    [Fact]
    public async Task Concurrent_streams_advance_at_similar_rates()
    {
        // The decode rate of each stream is measured on the client, from its first token to its last. This is
        // robust here because the scheduler steps the four sequences in lockstep (one token each per forward pass),
        // so the rates differ only by the clients' read jitter, which is small next to 100 steps on tiny32k; the
        // bound of 1.5 leaves it wide room. (Were streams ever to last only a few tens of milliseconds, the thread
        // pool's jitter would dominate; the count below is the tighter check then.)
        const int Streams = 4, Tokens = 100;
        await using var factory = ServerFactory.Tiny32k(("Model:MaxConcurrentSequences", "8"), ("Model:MaxQueueLength", "8"));
        var client = await factory.CreateReadyClientAsync();
        var steps = new ConcurrentQueue<SchedulerStep>();
        factory.Scheduler.Stepped += steps.Enqueue;

        var received = new int[Streams];
        var arrivals = Enumerable.Range(0, Streams).Select(_ => new List<long>(Tokens)).ToArray();
        var firstFinished = new TaskCompletionSource<int[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var streams = Enumerable.Range(0, Streams).Select(i => Task.Run(async () =>
        {
            var json = StreamRequest(Prompts[i], Tokens, seed: (ulong)(10 + i));
            await start.Task;
            using var response = await client.PostJsonAsync("/generate_stream", json, HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var events = new List<JsonElement>();
            await foreach (var e in response.ReadEventsAsync())
            {
                arrivals[i].Add(Stopwatch.GetTimestamp());
                events.Add(e);
                Interlocked.Increment(ref received[i]);
            }
            firstFinished.TrySetResult(Enumerable.Range(0, Streams).Select(j => Volatile.Read(ref received[j])).ToArray());
            return events;
        }, TestToken)).ToList();
        start.SetResult();

        var atFirstFinish = await firstFinished.Task.WaitAsync(TestToken);
        var results = await Task.WhenAll(streams);
        for (int i = 0; i < Streams; i++) Assert.Equal("length", AssertCompleteStream(results[i], Tokens, (ulong)(10 + i)));
        Assert.Contains(steps, s => s.Sequences == Streams); // they really ran together

        var rates = arrivals.Select(a => (a.Count - 1) / Stopwatch.GetElapsedTime(a[0], a[^1]).TotalSeconds).ToArray();
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"rates {string.Join(", ", rates.Select(r => r.ToString("0")))} tokens/s, max/min {rates.Max() / rates.Min():0.00}; " +
            $"tokens received when the first stream ended: {string.Join(", ", atFirstFinish)}");
        Assert.True(rates.Max() / rates.Min() <= 1.5, $"decode rates {string.Join(", ", rates.Select(r => r.ToString("0")))} tokens/s");
        // And no stream got far ahead: when the first one ended, every other had most of its tokens.
        Assert.All(atFirstFinish, count => Assert.True(count >= Tokens * 2 / 3, $"{count} of {Tokens} tokens when the first stream ended"));
    }
}

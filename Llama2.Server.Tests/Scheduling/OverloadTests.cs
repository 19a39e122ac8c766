namespace Llama2.Server.Tests.Scheduling;

/// <summary>A full queue answers 429; a client that goes away frees its slot. One slot, a queue of one.</summary>
public sealed class OverloadTests
{
    [Fact]
    public async Task A_full_queue_gets_429_with_retry_after_and_the_queued_request_is_served_later()
    {
        await using var factory = ServerFactory.OneSlot(retryAfterSeconds: 2);
        var client = await factory.CreateReadyClientAsync();
        using var full = await factory.FillAsync(client, "/generate", """{"inputs": "The cat", "parameters": {"max_new_tokens": 4}}""");

        using var refused = await client.PostJsonAsync("/generate", """{"inputs": "A dog", "parameters": {"max_new_tokens": 4}}""");
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Equal("2", Assert.Single(refused.Headers.GetValues("Retry-After")));
        Assert.Equal("overloaded", (await refused.ReadJsonAsync()).GetProperty("error_type").GetString());
        using (var streamRefused = await client.PostJsonAsync("/generate_stream", """{"inputs": "A dog"}"""))
            Assert.Equal(HttpStatusCode.TooManyRequests, streamRefused.StatusCode);

        using (var info = await client.GetAsync("/info", TestToken))
        {
            var body = await info.ReadJsonAsync();
            Assert.Equal(1, body.GetProperty("queue_depth").GetInt32());
            Assert.Equal(1, body.GetProperty("active_sequences").GetInt32());
        }

        full.Hold.Cancel();
        using var served = await full.Queued;
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        Assert.True(long.Parse(Assert.Single(served.Headers.GetValues("x-queue-time"))) >= 0);
        Assert.Equal(4, (int)long.Parse(Assert.Single(served.Headers.GetValues("x-generated-tokens"))));
    }

    [Fact]
    public async Task A_client_that_disconnects_mid_stream_frees_its_slot()
    {
        await using var factory = ServerFactory.OneSlot(retryAfterSeconds: 2);
        var client = await factory.CreateReadyClientAsync();
        var scheduler = factory.Scheduler;
        long completedBefore = scheduler.CompletedSequences;

        using (var disconnect = CancellationTokenSource.CreateLinkedTokenSource(TestToken))
        {
            using var response = await client.SendJsonAsync("/generate_stream",
                """{"inputs": "Once upon a time", "parameters": {"max_new_tokens": 120}}""", HttpCompletionOption.ResponseHeadersRead, disconnect.Token);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(disconnect.Token));
            Assert.StartsWith("data: ", await reader.ReadLineAsync(disconnect.Token));
            disconnect.Cancel(); // the client goes away after the first token
        }

        await Poll.Until(() => scheduler.ActiveSequences == 0 && scheduler.CompletedSequences > completedBefore, "the slot is freed");
        using var next = await client.PostJsonAsync("/generate", """{"inputs": "The cat", "parameters": {"max_new_tokens": 5}}""");
        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
        Assert.Equal("5", Assert.Single(next.Headers.GetValues("x-generated-tokens")));
    }
}

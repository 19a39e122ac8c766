using Llama2.Server.Serving;

namespace Llama2.Server.Tests.OpenAI;

/// <summary>OpenAI's streams, as raw Server-Sent Events: the order of the chunks, usage, [DONE], errors, clients leaving.</summary>
public sealed class OpenAIStreamTests(Tiny32kServer server) : IClassFixture<Tiny32kServer>
{
    const string Chat = """{"model": "m", "messages": [{"role": "user", "content": "Once upon a time"}], "max_tokens": 12, "temperature": 0.9, "seed": 5""";

    static async Task<string> ReplyAsync(HttpClient client, string request)
    {
        using var response = await client.PostJsonAsync("/v1/chat/completions", request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.ReadJsonAsync()).GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;
    }

    [Fact]
    public async Task A_chat_stream_is_the_role_then_the_text_then_the_finish_then_the_usage_then_DONE()
    {
        var client = await server.ClientAsync();
        using var response = await client.PostJsonAsync("/v1/chat/completions",
            Chat + """, "stream": true, "stream_options": {"include_usage": true}}""", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var chunks = await response.ReadOpenAIStreamAsync();

        foreach (var chunk in chunks)
        {
            Assert.Equal("chat.completion.chunk", chunk.GetProperty("object").GetString());
            Assert.Equal(chunks[0].GetProperty("id").GetString(), chunk.GetProperty("id").GetString());
            Assert.Equal(chunks[0].GetProperty("created").GetInt64(), chunk.GetProperty("created").GetInt64());
            Assert.Equal("tiny32k", chunk.GetProperty("model").GetString());
            Assert.StartsWith("fp_", chunk.GetProperty("system_fingerprint").GetString());
        }
        Assert.StartsWith("chatcmpl-", chunks[0].GetProperty("id").GetString());

        // The role first, with empty content and no finish reason.
        var first = chunks[0].GetProperty("choices")[0];
        Assert.Equal("assistant", first.GetProperty("delta").GetProperty("role").GetString());
        Assert.Equal("", first.GetProperty("delta").GetProperty("content").GetString());
        Assert.Equal(JsonValueKind.Null, first.GetProperty("finish_reason").ValueKind);

        // Then text only; then one chunk with the finish reason and an empty delta; then the usage, with no choice.
        var text = chunks[1..^2].Select(c => Assert.Single(c.GetProperty("choices").EnumerateArray())).ToList();
        Assert.True(text.Count >= 2, "the reply came in one chunk");
        Assert.All(text, c =>
        {
            Assert.False(c.GetProperty("delta").TryGetProperty("role", out _));
            Assert.NotEmpty(c.GetProperty("delta").GetProperty("content").GetString()!);
            Assert.Equal(JsonValueKind.Null, c.GetProperty("finish_reason").ValueKind);
        });
        var finish = Assert.Single(chunks[^2].GetProperty("choices").EnumerateArray());
        Assert.Equal("length", finish.GetProperty("finish_reason").GetString());
        Assert.Empty(finish.GetProperty("delta").EnumerateObject());
        Assert.Empty(chunks[^1].GetProperty("choices").EnumerateArray());
        var usage = chunks[^1].GetProperty("usage");
        Assert.Equal(12, usage.GetProperty("completion_tokens").GetInt32());
        Assert.Equal(usage.GetProperty("prompt_tokens").GetInt32() + 12, usage.GetProperty("total_tokens").GetInt32());
        Assert.Equal(usage.GetProperty("prompt_tokens").GetInt32().ToString(), Assert.Single(response.Headers.GetValues("x-prompt-tokens")));
        Assert.All(chunks[..^1], c => Assert.False(c.TryGetProperty("usage", out _)));

        // The same text as the JSON answer to the same request.
        Assert.Equal(await ReplyAsync(client, Chat + "}"),
            string.Concat(text.Select(c => c.GetProperty("delta").GetProperty("content").GetString())));
    }

    [Fact]
    public async Task Without_include_usage_no_usage_chunk_is_sent()
    {
        var client = await server.ClientAsync();
        using var response = await client.PostJsonAsync("/v1/chat/completions", Chat + """, "stream": true}""", HttpCompletionOption.ResponseHeadersRead);
        var chunks = await response.ReadOpenAIStreamAsync();
        Assert.All(chunks, c => Assert.False(c.TryGetProperty("usage", out _)));
        Assert.Equal("length", chunks[^1].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task A_completion_stream_has_text_chunks_the_finish_the_usage_and_DONE_and_equals_TGIs_generate()
    {
        var client = await server.ClientAsync();
        const string request = """{"model": "m", "prompt": "Once upon a time", "max_tokens": 10, "temperature": 0.8, "top_p": 0.9, "seed": 42""";
        using var response = await client.PostJsonAsync("/v1/completions", request + """, "stream": true, "stream_options": {"include_usage": true}}""",
            HttpCompletionOption.ResponseHeadersRead);
        var chunks = await response.ReadOpenAIStreamAsync();
        Assert.All(chunks, c => Assert.Equal("text_completion", c.GetProperty("object").GetString()));
        Assert.StartsWith("cmpl-", chunks[0].GetProperty("id").GetString());
        var choices = chunks[..^1].Select(c => Assert.Single(c.GetProperty("choices").EnumerateArray())).ToList();
        Assert.All(choices[..^1], c => Assert.Equal(JsonValueKind.Null, c.GetProperty("finish_reason").ValueKind));
        Assert.Equal("length", choices[^1].GetProperty("finish_reason").GetString());
        Assert.Equal("", choices[^1].GetProperty("text").GetString());
        Assert.Equal(10, chunks[^1].GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal(5, chunks[^1].GetProperty("usage").GetProperty("prompt_tokens").GetInt32()); // BOS + 4 words
        string streamed = string.Concat(choices.Select(c => c.GetProperty("text").GetString()));

        using var whole = await client.PostJsonAsync("/v1/completions", request + "}");
        var body = await whole.ReadJsonAsync();
        Assert.Equal(streamed, body.GetProperty("choices")[0].GetProperty("text").GetString());

        // The same sampling as TGI's: the same tokens.
        using var tgi = await client.PostJsonAsync("/generate",
            """{"inputs": "Once upon a time", "parameters": {"max_new_tokens": 10, "temperature": 0.8, "top_p": 0.9, "seed": 42}}""");
        Assert.Equal((await tgi.ReadJsonAsync()).GetProperty("generated_text").GetString(), streamed);
    }

    [Fact]
    public async Task Streamed_log_probabilities_cover_each_token_of_the_text()
    {
        var client = await server.ClientAsync();
        using var response = await client.PostJsonAsync("/v1/chat/completions",
            Chat + """, "stream": true, "logprobs": true, "top_logprobs": 2}""", HttpCompletionOption.ResponseHeadersRead);
        var chunks = await response.ReadOpenAIStreamAsync();
        var entries = chunks.Select(c => c.GetProperty("choices")[0].GetProperty("logprobs"))
            .Where(l => l.ValueKind == JsonValueKind.Object)
            .SelectMany(l => l.GetProperty("content").EnumerateArray()).ToList();
        Assert.Equal(12, entries.Count);
        Assert.All(entries, e => Assert.Equal(2, e.GetProperty("top_logprobs").GetArrayLength()));
        string text = string.Concat(chunks.Select(c => c.GetProperty("choices")[0].GetProperty("delta"))
            .Select(d => d.TryGetProperty("content", out var content) ? content.GetString() : ""));
        string tokens = string.Concat(entries.Select(e => e.GetProperty("token").GetString()));
        Assert.Equal(text, tokens.StartsWith(' ') ? tokens[1..] : tokens); // the reply drops one leading space
    }

    [Fact]
    public async Task An_error_after_the_stream_started_is_an_error_event_then_DONE()
    {
        await using var factory = ServerFactory.Tiny32kWith(services => services.AddSingleton<IGenerationObserver>(new FailingObserver(atToken: 3)));
        var client = await factory.CreateReadyClientAsync();
        using var response = await client.PostJsonAsync("/v1/chat/completions", Chat + """, "stream": true}""", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var events = await response.ReadOpenAIStreamAsync();
        var error = events[^1].GetProperty("error");
        Assert.Equal("generation failed", error.GetProperty("message").GetString());
        Assert.Equal("server_error", error.GetProperty("type").GetString());
        Assert.True(error.TryGetProperty("param", out _) && error.TryGetProperty("code", out _));
        Assert.Equal("assistant", events[0].GetProperty("choices")[0].GetProperty("delta").GetProperty("role").GetString());
        Assert.All(events[..^1], e => Assert.Equal(JsonValueKind.Null, e.GetProperty("choices")[0].GetProperty("finish_reason").ValueKind));
    }

    /// <summary>Fails the request's flow when its <paramref name="atToken"/>-th token is read: a generation failing mid-way.</summary>
    sealed class FailingObserver(int atToken) : IGenerationObserver
    {
        public void Started(RunningGeneration generation) { }

        public void TokenRead(RunningGeneration generation, GeneratedToken token)
        {
            if (generation.TokensRead == atToken) throw new InvalidOperationException("a failure for the test");
        }

        public void Ended(RunningGeneration generation) { }
    }

    [Fact]
    public async Task A_client_that_disconnects_mid_stream_frees_its_slot_at_the_next_token()
    {
        await using var factory = ServerFactory.Tiny32kBehind(new SlowLink { DelayPerWrite = TimeSpan.FromMilliseconds(50) }); // 100 tokens: 5 s
        var client = await factory.CreateReadyClientAsync();
        var scheduler = factory.Scheduler;
        var before = new PrometheusText(await client.GetStringAsync("/metrics", TestToken));

        using (var disconnect = CancellationTokenSource.CreateLinkedTokenSource(TestToken))
        {
            using var response = await client.SendJsonAsync("/v1/chat/completions",
                """{"model": "m", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 100, "stream": true}""",
                HttpCompletionOption.ResponseHeadersRead, disconnect.Token);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(disconnect.Token));
            Assert.StartsWith("data: ", await reader.ReadLineAsync(disconnect.Token)); // the role chunk
            await Poll.Until(() => scheduler.ActiveSequences == 1, "the sequence is generating");
            disconnect.Cancel();
        }

        // Retired at its next token, and counted as cancelled under its route.
        await Poll.Until(() => scheduler.ActiveSequences == 0, "the slot is freed");
        var after = new PrometheusText(await client.GetStringAsync("/metrics", TestToken));
        Assert.Equal(1, after.Delta(before, "llama2_generations_total", ("endpoint", "v1/chat/completions"), ("finish_reason", "cancelled")));
        Assert.InRange(after.Delta(before, "llama2_generated_tokens_total"), 0, 99);

        using var next = await client.PostJsonAsync("/v1/completions", """{"prompt": "The cat", "max_tokens": 5}""");
        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
        Assert.Equal(5, (await next.ReadJsonAsync()).GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }
}

namespace Llama2.Server.Tests.Metrics;

/// <summary>GET /metrics: what a few requests do to the counters, histograms and gauges.</summary>
public sealed class MetricsTests
{
    static async Task<PrometheusText> ScrapeAsync(HttpClient client)
    {
        using var response = await client.GetAsync("/metrics", TestToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        return new PrometheusText(await response.Content.ReadAsStringAsync(TestToken));
    }

    static (string, string) L(string name, string value) => (name, value);

    [Fact]
    public async Task Requests_move_the_counters_and_histograms_by_exactly_their_share()
    {
        await using var factory = ServerFactory.Tiny32k();
        var client = await factory.CreateReadyClientAsync();
        var before = await ScrapeAsync(client);

        // Two answers, one stream, one validation error; what each generated is read from its answer.
        var done = new List<(string Endpoint, string FinishReason, int Tokens)>();
        foreach (var (prompt, max) in new[] { ("Hello", 7), ("Once upon a time", 5) })
        {
            using var response = await client.PostJsonAsync("/generate",
                $$$"""{"inputs": "{{{prompt}}}", "parameters": {"max_new_tokens": {{{max}}}, "details": true}}""");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var details = (await response.ReadJsonAsync()).GetProperty("details");
            done.Add(("generate", details.GetProperty("finish_reason").GetString()!, details.GetProperty("generated_tokens").GetInt32()));
        }
        using (var stream = await client.PostJsonAsync("/generate_stream", """{"inputs": "Hello", "parameters": {"max_new_tokens": 4}}"""))
        {
            var events = await stream.ReadAllEventsAsync();
            var details = events[^1].GetProperty("details");
            Assert.Equal(events.Count, details.GetProperty("generated_tokens").GetInt32());
            done.Add(("generate_stream", details.GetProperty("finish_reason").GetString()!, events.Count));
        }
        using (var invalid = await client.PostJsonAsync("/generate", """{"inputs": "", "parameters": {"max_new_tokens": 4}}"""))
            Assert.Equal(HttpStatusCode.UnprocessableEntity, invalid.StatusCode);

        var after = await ScrapeAsync(client);

        // Tokens: the prompts are BOS + "▁Hello" (2), BOS + 4 words (5), 2 again; the invalid request is not counted.
        Assert.Equal(9, after.Delta(before, "llama2_prompt_tokens_total"));
        Assert.Equal(done.Sum(d => d.Tokens), after.Delta(before, "llama2_generated_tokens_total"));
        foreach (var group in done.GroupBy(d => (d.Endpoint, d.FinishReason)))
            Assert.Equal(group.Count(), after.Delta(before, "llama2_generations_total",
                L("endpoint", group.Key.Endpoint), L("finish_reason", group.Key.FinishReason)));

        // One observation per generation (time per output token: per generation of two tokens or more), with the
        // +Inf bucket equal to the count and a positive sum.
        var histograms = new (string Name, (string, string)[] Labels, int Observations)[]
        {
            ("llama2_time_to_first_token_seconds", [], 3),
            ("llama2_queue_time_seconds", [], 3),
            ("llama2_time_per_output_token_seconds", [], done.Count(d => d.Tokens >= 2)),
            ("llama2_request_duration_seconds", [L("endpoint", "generate")], 2),
            ("llama2_request_duration_seconds", [L("endpoint", "generate_stream")], 1),
        };
        foreach (var (name, labels, observations) in histograms)
        {
            Assert.Equal(observations, after.Delta(before, name + "_count", labels));
            Assert.Equal(observations, after.Delta(before, name + "_bucket", [.. labels, L("le", "+Inf")]));
            Assert.True(after.Delta(before, name + "_sum", labels) > 0, name);
        }
        Assert.True(done.Count(d => d.Tokens >= 2) >= 2); // the time per output token really was observed

        // HTTP requests by route and status; scrapes of /metrics are not counted.
        Assert.Equal(2, after.Delta(before, "http_requests_received_total", L("code", "200"), L("method", "POST"), L("endpoint", "/generate")));
        Assert.Equal(1, after.Delta(before, "http_requests_received_total", L("code", "422"), L("method", "POST"), L("endpoint", "/generate")));
        Assert.Equal(1, after.Delta(before, "http_requests_received_total", L("code", "200"), L("method", "POST"), L("endpoint", "/generate_stream")));
        Assert.Equal(1, after.Delta(before, "http_request_duration_seconds_count", L("code", "422"), L("method", "POST"), L("endpoint", "/generate")));
        Assert.DoesNotContain("endpoint=\"/metrics\"", after.Text);

        // Gauges: nothing left running, and the model with its shape.
        // One request at a time: a forward pass per generated token, fed the prompt first and then each token but the last.
        Assert.Equal(done.Sum(d => d.Tokens), after.Delta(before, "llama2_forward_passes_total"));
        Assert.Equal(after.Delta(before, "llama2_prompt_tokens_total") + done.Sum(d => d.Tokens - 1),
            after.Delta(before, "llama2_forward_pass_tokens_total"));

        Assert.Equal(0, after["llama2_queue_depth"]);
        Assert.Equal(0, after["llama2_active_sequences"]);
        Assert.Equal(8, after["llama2_sequence_slots"]); // appsettings.json
        Assert.Equal(1, after["llama2_model_loaded", L("model_id", "tiny32k"), L("dim", "48"), L("hidden_dim", "128"),
            L("n_layers", "2"), L("n_heads", "6"), L("n_kv_heads", "2"), L("vocab_size", "32000"), L("seq_len", "128"),
            L("parameters", "3121392"), L("quantization", "none")]);
    }

    [Fact]
    public async Task OpenAI_requests_are_counted_under_their_routes()
    {
        await using var factory = ServerFactory.Tiny32k();
        var client = await factory.CreateReadyClientAsync();
        var before = await ScrapeAsync(client);

        int promptTokens = 0, generated = 0;
        foreach (var (path, body) in new[]
                 {
                     ("/v1/chat/completions", """{"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}"""),
                     ("/v1/chat/completions", """{"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3, "stream": true, "stream_options": {"include_usage": true}}"""),
                     ("/v1/completions", """{"prompt": "Hello", "max_tokens": 5}"""),
                 })
        {
            using var response = await client.PostJsonAsync(path, body);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var usage = response.Content.Headers.ContentType?.MediaType == "text/event-stream"
                ? (await response.ReadOpenAIStreamAsync())[^1].GetProperty("usage")
                : (await response.ReadJsonAsync()).GetProperty("usage");
            promptTokens += usage.GetProperty("prompt_tokens").GetInt32();
            generated += usage.GetProperty("completion_tokens").GetInt32();
        }
        using (var invalid = await client.PostJsonAsync("/v1/chat/completions", """{"messages": []}"""))
            Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);

        var after = await ScrapeAsync(client);
        Assert.Equal(promptTokens, after.Delta(before, "llama2_prompt_tokens_total"));
        Assert.Equal(generated, after.Delta(before, "llama2_generated_tokens_total"));
        Assert.Equal(2, after.Delta(before, "llama2_generations_total", L("endpoint", "v1/chat/completions"), L("finish_reason", "length")));
        Assert.Equal(1, after.Delta(before, "llama2_generations_total", L("endpoint", "v1/completions"), L("finish_reason", "length")));
        Assert.Equal(2, after.Delta(before, "llama2_request_duration_seconds_count", L("endpoint", "v1/chat/completions")));
        Assert.Equal(3, after.Delta(before, "llama2_time_to_first_token_seconds_count"));
        Assert.Equal(2, after.Delta(before, "http_requests_received_total", L("code", "200"), L("method", "POST"), L("endpoint", "/v1/chat/completions")));
        Assert.Equal(1, after.Delta(before, "http_requests_received_total", L("code", "400"), L("method", "POST"), L("endpoint", "/v1/chat/completions")));
        Assert.Equal(1, after.Delta(before, "http_requests_received_total", L("code", "200"), L("method", "POST"), L("endpoint", "/v1/completions")));
    }

    [Fact]
    public async Task Each_server_counts_only_its_own_requests()
    {
        // prometheus-net's static default registry is not used: two hosts in one process do not add up.
        await using var first = ServerFactory.Tiny32k();
        await using var second = ServerFactory.Tiny32k();
        var firstClient = await first.CreateReadyClientAsync();
        var secondClient = await second.CreateReadyClientAsync();
        using (var response = await firstClient.PostJsonAsync("/generate", """{"inputs": "Hello", "parameters": {"max_new_tokens": 3}}"""))
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var firstMetrics = await ScrapeAsync(firstClient);
        var secondMetrics = await ScrapeAsync(secondClient);
        Assert.Equal(2, firstMetrics["llama2_prompt_tokens_total"]);
        Assert.Equal(0, secondMetrics["llama2_prompt_tokens_total"]);
        Assert.Equal(0, secondMetrics["llama2_generated_tokens_total"]);
        Assert.False(secondMetrics.Has("http_requests_received_total", L("code", "200"), L("method", "POST"), L("endpoint", "/generate")));
    }

    [Fact]
    public async Task A_client_that_goes_away_is_counted_as_cancelled_and_its_sequence_freed()
    {
        await using var slowFactory = ServerFactory.Tiny32kBehind(new SlowLink { DelayPerWrite = TimeSpan.FromMilliseconds(50) });
        var client = await slowFactory.CreateReadyClientAsync();
        var before = await ScrapeAsync(client);

        using (var leaving = new CancellationTokenSource())
        {
            using var response = await client.SendJsonAsync("/generate_stream",
                """{"inputs": "Once upon a time", "parameters": {"max_new_tokens": 100}}""",
                HttpCompletionOption.ResponseHeadersRead, leaving.Token);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(TestToken));
            Assert.StartsWith("data:", await reader.ReadLineAsync(TestToken)); // the first token is out
            var during = await ScrapeAsync(client);
            Assert.Equal(1, during["llama2_active_sequences"]); // 100 tokens at 50 ms each: still generating
            leaving.Cancel();
        }

        // The scheduler retires the sequence at its next step: poll, bounded.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        PrometheusText after;
        while (true)
        {
            after = await ScrapeAsync(client);
            if (after["llama2_active_sequences"] == 0 && after.Delta(before, "llama2_generations_total",
                    L("endpoint", "generate_stream"), L("finish_reason", "cancelled")) == 1) break;
            Assert.True(DateTime.UtcNow < deadline, "the cancelled sequence is still active after 10 s:\n" + after.Text);
            await Task.Delay(20, TestToken);
        }
        Assert.Equal(5, after.Delta(before, "llama2_prompt_tokens_total"));
        var generated = after.Delta(before, "llama2_generated_tokens_total");
        Assert.InRange(generated, 1, 99);
        Assert.Equal(1, after.Delta(before, "llama2_request_duration_seconds_count", L("endpoint", "generate_stream")));
    }

    [Fact]
    public async Task Metrics_are_served_while_the_model_loads_and_name_it_once_loaded()
    {
        var loader = new GatedLoader();
        await using var factory = ServerFactory.Tiny32kLoadedBy(loader);
        var client = factory.CreateClient();

        var loading = await ScrapeAsync(client);
        Assert.DoesNotContain("llama2_model_loaded{", loading.Text);
        Assert.Equal(0, loading["llama2_active_sequences"]);
        Assert.Contains("# TYPE llama2_model_loaded gauge", loading.Text);
        Assert.Contains("# TYPE llama2_generated_tokens_total counter", loading.Text);
        Assert.Contains("# TYPE llama2_time_to_first_token_seconds histogram", loading.Text);

        loader.Release.Set();
        await factory.CreateReadyClientAsync();
        var loaded = await ScrapeAsync(client);
        Assert.Contains("llama2_model_loaded{model_id=\"tiny32k\",", loaded.Text);
    }
}

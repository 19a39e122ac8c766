namespace Llama2.Server.Tests.Generation;

/// <summary>POST /generate without streaming, on tiny32k.</summary>
public sealed class GenerateTests(Tiny32kServer server) : IClassFixture<Tiny32kServer>
{
    /// <summary>What the engine itself generates for a prompt, greedily.</summary>
    static List<GeneratedToken> EngineGreedy(string prompt, int maxNewTokens)
    {
        using var model = LlamaModel.Load(SharedData.Tiny32k, SharedData.Tokenizer32k);
        var sequence = model.StartSequence(new GenerationRequest
        {
            Prompt = prompt,
            MaxNewTokens = maxNewTokens,
            Sampling = new SamplingOptions { Temperature = 0 },
        });
        var tokens = new List<GeneratedToken>();
        while (sequence.Next() is { } token) tokens.Add(token);
        return tokens;
    }

    [Fact]
    public async Task Greedy_output_is_the_engines()
    {
        var client = await server.ClientAsync();
        using var response = await client.PostJsonAsync("/generate",
            """{"inputs": "Once upon a time", "parameters": {"max_new_tokens": 20, "details": true}}""");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.ReadJsonAsync();

        var expected = EngineGreedy("Once upon a time", 20);
        Assert.Equal(string.Concat(expected.Select(t => t.Text)), body.GetProperty("generated_text").GetString());
        var details = body.GetProperty("details");
        Assert.Equal(expected.Select(t => t.Id), details.GetProperty("tokens").EnumerateArray().Select(t => t.GetProperty("id").GetInt32()));
        Assert.Equal("length", details.GetProperty("finish_reason").GetString());
        Assert.Equal(20, details.GetProperty("generated_tokens").GetInt32());
        Assert.Equal(JsonValueKind.Null, details.GetProperty("seed").ValueKind); // greedy: no seed, as TGI
        Assert.True(details.GetProperty("tokens_per_second").GetDouble() > 0);
        Assert.Equal(expected[^1].Summary!.PromptTokens, details.GetProperty("input_length").GetInt32());
        var first = details.GetProperty("tokens")[0];
        Assert.False(first.GetProperty("special").GetBoolean());
        Assert.True(first.GetProperty("logprob").GetSingle() <= 0);
    }

    [Fact]
    public async Task Timing_and_count_headers_are_sent()
    {
        var client = await server.ClientAsync();
        using var response = await client.PostJsonAsync("/generate", """{"inputs": "Hello", "parameters": {"max_new_tokens": 7}}""");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        string Header(string name) => Assert.Single(response.Headers.GetValues(name));
        Assert.Equal("7", Header("x-generated-tokens"));
        Assert.Equal("2", Header("x-prompt-tokens")); // BOS, "▁Hello"
        foreach (var name in new[] { "x-time-per-token", "x-inference-time", "x-queue-time" })
            Assert.True(long.Parse(Header(name)) >= 0, name);
        Assert.True(double.Parse(Header("x-tokens-per-second"), System.Globalization.CultureInfo.InvariantCulture) > 0);
        var body = await response.ReadJsonAsync();
        Assert.False(body.TryGetProperty("details", out _)); // only when asked, as TGI
    }

    [Fact]
    public async Task A_seed_gives_the_same_tokens_every_time_and_an_absent_seed_is_reported()
    {
        var client = await server.ClientAsync();
        async Task<JsonElement> Sample(string parameters)
        {
            using var response = await client.PostJsonAsync("/generate",
                $$$"""{"inputs": "Once upon a time", "parameters": {"max_new_tokens": 24, "temperature": 1.0, "details": true{{{parameters}}}}}""");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return (await response.ReadJsonAsync()).GetProperty("details");
        }
        static string Ids(JsonElement details) =>
            string.Join(",", details.GetProperty("tokens").EnumerateArray().Select(t => t.GetProperty("id").GetInt32()));

        var a = await Sample(""", "seed": 1234""");
        var b = await Sample(""", "seed": 1234""");
        var c = await Sample(""", "seed": 99""");
        Assert.Equal(Ids(a), Ids(b));
        Assert.NotEqual(Ids(a), Ids(c));
        Assert.Equal(1234UL, a.GetProperty("seed").GetUInt64());

        var random = await Sample("");
        ulong seed = random.GetProperty("seed").GetUInt64();
        Assert.NotEqual(0UL, seed);
        Assert.Equal(Ids(random), Ids(await Sample($$""", "seed": {{seed}}""")));
    }

    [Fact]
    public async Task Do_sample_false_and_temperature_zero_are_greedy()
    {
        var client = await server.ClientAsync();
        async Task<string> Text(string parameters)
        {
            using var response = await client.PostJsonAsync("/generate", $$$"""{"inputs": "The cat", "parameters": {"max_new_tokens": 12{{{parameters}}}}}""");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return (await response.ReadJsonAsync()).GetProperty("generated_text").GetString()!;
        }
        var greedy = string.Concat(EngineGreedy("The cat", 12).Select(t => t.Text));
        Assert.Equal(greedy, await Text(""));
        Assert.Equal(greedy, await Text(""", "temperature": 0, "seed": 5"""));
        Assert.Equal(greedy, await Text(""", "do_sample": false, "temperature": 0.7, "seed": 5"""));
    }

    [Fact]
    public async Task Generation_stops_at_a_stop_sequence_and_does_not_return_it()
    {
        var client = await server.ClientAsync();
        var expected = EngineGreedy("Once upon a time", 30);
        // A stop sequence spanning the end of token 5 and the start of token 6.
        string before = string.Concat(expected.Take(5).Select(t => t.Text));
        string stop = before[^2..] + expected[5].Text[..Math.Min(2, expected[5].Text.Length)];
        int stopAt = (before + expected[5].Text).IndexOf(stop, StringComparison.Ordinal);

        using var response = await client.PostJsonAsync("/generate",
            JsonSerializer.Serialize(new { inputs = "Once upon a time", parameters = new { max_new_tokens = 30, stop = new[] { stop }, details = true } }));
        var body = await response.ReadJsonAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal((before + expected[5].Text)[..stopAt], body.GetProperty("generated_text").GetString());
        Assert.Equal("stop_sequence", body.GetProperty("details").GetProperty("finish_reason").GetString());
        Assert.Equal(6, body.GetProperty("details").GetProperty("generated_tokens").GetInt32());
    }

    [Fact]
    public async Task Return_full_text_and_decoder_input_details()
    {
        var client = await server.ClientAsync();
        using var response = await client.PostJsonAsync("/generate",
            """{"inputs": "Once upon", "parameters": {"max_new_tokens": 3, "return_full_text": true, "details": true, "decoder_input_details": true}}""");
        var body = await response.ReadJsonAsync();
        Assert.StartsWith("Once upon", body.GetProperty("generated_text").GetString());
        var prefill = body.GetProperty("details").GetProperty("prefill").EnumerateArray().ToList();
        Assert.Equal(1, prefill[0].GetProperty("id").GetInt32()); // BOS
        Assert.Equal("Once upon", string.Concat(prefill.Select(p => p.GetProperty("text").GetString())).Trim());
    }

    [Fact]
    public async Task Without_max_new_tokens_the_default_is_capped_by_the_context()
    {
        var client = await server.ClientAsync();
        using var response = await client.PostJsonAsync("/generate", """{"inputs": "Once upon a time", "parameters": {"details": true}}""");
        var details = (await response.ReadJsonAsync()).GetProperty("details");
        int prompt = details.GetProperty("input_length").GetInt32();
        Assert.Equal(Math.Min(100, 128 - prompt), details.GetProperty("generated_tokens").GetInt32());
    }
}

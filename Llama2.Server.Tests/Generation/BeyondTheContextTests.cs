using Llama2.Engine.Tokenization;

namespace Llama2.Server.Tests.Generation;

/// <summary>
/// TGI's routes past tiny32k's 128-position context: <c>truncate</c> and <c>context_shift</c>, what details say of them,
/// and the errors when neither is asked for (the server's default, Model:ContextShift, is off).
/// </summary>
public sealed class BeyondTheContextTests(Tiny32kServer server) : IClassFixture<Tiny32kServer>
{
    /// <summary>About 250 tokens: twice the context.</summary>
    static readonly string LongStory = string.Concat(Enumerable.Repeat("Once upon a time there was a little cat. ", 25));
    static readonly SamplingOptions Greedy = new() { Temperature = 0 };

    static Tokenizer Tokenizer => Tokenizer.Load(SharedData.Tokenizer32k);

    static async Task<JsonElement> GenerateAsync(HttpClient client, object body)
    {
        using var response = await client.PostJsonAsync("/generate", JsonSerializer.Serialize(body));
        string text = await response.Content.ReadAsStringAsync(TestToken);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement;
    }

    static async Task<string> RefusedAsync(HttpClient client, object body)
    {
        using var response = await client.PostJsonAsync("/generate", JsonSerializer.Serialize(body));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var error = await response.ReadJsonAsync();
        Assert.Equal("validation", error.GetProperty("error_type").GetString());
        return error.GetProperty("error").GetString()!;
    }

    [Fact]
    public async Task Truncate_keeps_the_last_tokens_of_a_prompt_too_long_for_the_context()
    {
        var client = await server.ClientAsync();
        var ids = Tokenizer.Encode(LongStory, bos: true, eos: false).ToArray();
        Assert.True(ids.Length > 128);
        Assert.Equal($"`inputs` must have less than 128 tokens. Given: {ids.Length}",
            await RefusedAsync(client, new { inputs = LongStory, parameters = new { max_new_tokens = 10 } }));

        var body = await GenerateAsync(client, new
        {
            inputs = LongStory,
            parameters = new { max_new_tokens = 10, truncate = 40, details = true, decoder_input_details = true },
        });
        int[] kept = [Tokenizer.Bos, .. ids[^39..]];
        var details = body.GetProperty("details");
        Assert.Equal(kept, details.GetProperty("prefill").EnumerateArray().Select(t => t.GetProperty("id").GetInt32()));
        Assert.Equal((40, ids.Length - 40, 0), (details.GetProperty("input_length").GetInt32(),
            details.GetProperty("truncated_tokens").GetInt32(), details.GetProperty("context_shifts").GetInt32()));
        var expected = await OpenAIClients.EngineRunAsync(server.Factory, kept, Greedy, 10);
        Assert.Equal(expected.GeneratedText, body.GetProperty("generated_text").GetString());

        // A prompt shorter than truncate is left as it is.
        details = (await GenerateAsync(client, new { inputs = "Once upon a time", parameters = new { max_new_tokens = 3, truncate = 40, details = true } }))
            .GetProperty("details");
        Assert.Equal((5, 0), (details.GetProperty("input_length").GetInt32(), details.GetProperty("truncated_tokens").GetInt32()));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(128)]
    public async Task Truncate_out_of_its_range_is_refused(int truncate)
    {
        var client = await server.ClientAsync();
        Assert.Equal($"`truncate` must be between 1 and 127 (the longest prompt). Given: {truncate}",
            await RefusedAsync(client, new { inputs = "Once upon a time", parameters = new { truncate } }));
    }

    [Fact]
    public async Task A_long_generation_crosses_the_context_with_context_shift()
    {
        var client = await server.ClientAsync();
        Assert.Equal("`inputs` tokens + `max_new_tokens` must be <= 128. Given: 5 `inputs` tokens and 300 `max_new_tokens`",
            await RefusedAsync(client, new { inputs = "Once upon a time", parameters = new { max_new_tokens = 300 } }));

        var body = await GenerateAsync(client, new
        {
            inputs = "Once upon a time", parameters = new { max_new_tokens = 300, context_shift = true, details = true },
        });
        var details = body.GetProperty("details");
        Assert.Equal(("length", 300), (details.GetProperty("finish_reason").GetString(), details.GetProperty("generated_tokens").GetInt32()));
        // BOS stays, 63 of the other 127 positions go at each shift: 5 + 299 fed tokens need 3 shifts.
        Assert.Equal((3, 3 * 63, 0), (details.GetProperty("context_shifts").GetInt32(), details.GetProperty("discarded_tokens").GetInt32(),
            details.GetProperty("truncated_tokens").GetInt32()));
        var ids = Tokenizer.Encode("Once upon a time", bos: true, eos: false).ToArray();
        var expected = await OpenAIClients.EngineRunAsync(server.Factory, ids, Greedy, 300, shift: new ContextShift());
        Assert.Equal(expected.GeneratedText, body.GetProperty("generated_text").GetString());

        // Streamed, the same tokens, and the last event's details say the same.
        using var response = await client.PostJsonAsync("/generate_stream",
            """{"inputs": "Once upon a time", "parameters": {"max_new_tokens": 300, "context_shift": true}}""", HttpCompletionOption.ResponseHeadersRead);
        var events = await response.ReadAllEventsAsync();
        Assert.Equal(300, events.Count);
        Assert.Equal(expected.GeneratedText, events[^1].GetProperty("generated_text").GetString());
        Assert.Equal(3, events[^1].GetProperty("details").GetProperty("context_shifts").GetInt32());
    }

    [Fact]
    public async Task A_prompt_longer_than_the_context_is_shifted_before_generation()
    {
        var client = await server.ClientAsync();
        var ids = Tokenizer.Encode(LongStory, bos: true, eos: false).ToArray();
        var details = (await GenerateAsync(client, new { inputs = LongStory, parameters = new { max_new_tokens = 8, context_shift = true, details = true } }))
            .GetProperty("details");
        Assert.Equal(ids.Length, details.GetProperty("input_length").GetInt32());
        int shifts = details.GetProperty("context_shifts").GetInt32();
        Assert.True(shifts >= 2, $"{shifts} shifts for a {ids.Length}-token prompt");
        Assert.Equal(shifts * 63, details.GetProperty("discarded_tokens").GetInt32());
        // The model read BOS and the prompt's tail: as if the request had been that alone.
        var expected = await OpenAIClients.EngineRunAsync(server.Factory, [Tokenizer.Bos, .. ids[(1 + shifts * 63)..]], Greedy, 8);
        Assert.Equal(expected.GeneratedText, string.Concat(details.GetProperty("tokens").EnumerateArray().Select(t => t.GetProperty("text").GetString())));
    }

    [Fact]
    public async Task Info_says_the_server_does_not_shift_unless_asked()
    {
        var client = await server.ClientAsync();
        using var response = await client.GetAsync("/info", TestToken);
        Assert.False((await response.ReadJsonAsync()).GetProperty("context_shift").GetBoolean());
    }

    [Fact]
    public async Task With_Model_ContextShift_requests_shift_unless_they_say_not_to()
    {
        await using var factory = ServerFactory.Tiny32k(("Model:ContextShift", "true"));
        var client = await factory.CreateReadyClientAsync();
        using (var info = await client.GetAsync("/info", TestToken))
            Assert.True((await info.ReadJsonAsync()).GetProperty("context_shift").GetBoolean());

        var details = (await GenerateAsync(client, new { inputs = "Once upon a time", parameters = new { max_new_tokens = 200, details = true } }))
            .GetProperty("details");
        Assert.Equal((200, 2), (details.GetProperty("generated_tokens").GetInt32(), details.GetProperty("context_shifts").GetInt32()));
        // Without max_new_tokens, Model:DefaultMaxNewTokens (100), no longer cut to the room left in the context.
        details = (await GenerateAsync(client, new { inputs = LongStory, parameters = new { details = true } })).GetProperty("details");
        Assert.Equal(100, details.GetProperty("generated_tokens").GetInt32());

        Assert.Contains("must be <= 128",
            await RefusedAsync(client, new { inputs = "Once upon a time", parameters = new { max_new_tokens = 200, context_shift = false } }));
    }
}

namespace Llama2.Server.Tests.Generation;

/// <summary>Server-Sent Events from /generate_stream and from /generate when asked to stream.</summary>
public sealed class StreamTests(Tiny32kServer server) : IClassFixture<Tiny32kServer>
{
    const string Request = """{"inputs": "Once upon a time", "parameters": {"max_new_tokens": 16, "temperature": 0.9, "seed": 7}}""";

    async Task<string> NonStreamingText(HttpClient client)
    {
        using var response = await client.PostJsonAsync("/generate", Request);
        return (await response.ReadJsonAsync()).GetProperty("generated_text").GetString()!;
    }

    static void AssertTgiStream(List<JsonElement> events, int expectedTokens, string expectedText)
    {
        Assert.Equal(expectedTokens, events.Count);
        for (int i = 0; i < events.Count; i++)
        {
            var e = events[i];
            Assert.Equal(i + 1, e.GetProperty("index").GetInt32());
            var token = e.GetProperty("token");
            Assert.Equal(JsonValueKind.Number, token.GetProperty("id").ValueKind);
            Assert.Equal(JsonValueKind.String, token.GetProperty("text").ValueKind);
            Assert.Equal(JsonValueKind.Number, token.GetProperty("logprob").ValueKind);
            Assert.Equal(JsonValueKind.False, token.GetProperty("special").ValueKind);
            bool last = i == events.Count - 1;
            Assert.Equal(last ? JsonValueKind.String : JsonValueKind.Null, e.GetProperty("generated_text").ValueKind);
            Assert.Equal(last ? JsonValueKind.Object : JsonValueKind.Null, e.GetProperty("details").ValueKind);
        }
        var final = events[^1];
        Assert.Equal(expectedText, final.GetProperty("generated_text").GetString());
        Assert.Equal(expectedText, string.Concat(events.Select(e => e.GetProperty("token").GetProperty("text").GetString())));
        var details = final.GetProperty("details");
        Assert.Equal("length", details.GetProperty("finish_reason").GetString());
        Assert.Equal(expectedTokens, details.GetProperty("generated_tokens").GetInt32());
        Assert.Equal(7UL, details.GetProperty("seed").GetUInt64());
        Assert.True(details.GetProperty("tokens_per_second").GetDouble() > 0);
        Assert.True(details.GetProperty("time_to_first_token_ms").GetDouble() > 0);
    }

    [Fact]
    public async Task Generate_stream_sends_one_event_per_token_then_the_details()
    {
        var client = await server.ClientAsync();
        using var response = await client.PostJsonAsync("/generate_stream", Request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        AssertTgiStream(await response.ReadAllEventsAsync(), 16, await NonStreamingText(client));
    }

    [Fact]
    public async Task Generate_streams_when_asked_in_the_body_or_by_accept()
    {
        var client = await server.ClientAsync();
        string expected = await NonStreamingText(client);
        using (var response = await client.PostJsonAsync("/generate", Request.Replace("\"inputs\"", "\"stream\": true, \"inputs\""),
                   HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
            AssertTgiStream(await response.ReadAllEventsAsync(), 16, expected);
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, "/generate") { Content = new StringContent(Request, System.Text.Encoding.UTF8, "application/json") };
        request.Headers.Accept.ParseAdd("text/event-stream");
        using var accepted = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, TestContext.Current.CancellationToken);
        AssertTgiStream(await accepted.ReadAllEventsAsync(), 16, expected);
    }

    [Fact]
    public async Task A_stream_stopped_by_a_stop_sequence_never_sends_its_text()
    {
        var client = await server.ClientAsync();
        using var full = await client.PostJsonAsync("/generate", """{"inputs": "Once upon a time", "parameters": {"max_new_tokens": 20}}""");
        string text = (await full.ReadJsonAsync()).GetProperty("generated_text").GetString()!;
        string stop = text.Substring(text.Length / 2, 3);
        int at = text.IndexOf(stop, StringComparison.Ordinal);

        using var response = await client.PostJsonAsync("/generate_stream",
            JsonSerializer.Serialize(new { inputs = "Once upon a time", parameters = new { max_new_tokens = 20, stop = new[] { stop } } }),
            HttpCompletionOption.ResponseHeadersRead);
        var events = await response.ReadAllEventsAsync();
        string streamed = string.Concat(events.Select(e => e.GetProperty("token").GetProperty("text").GetString()));
        Assert.Equal(text[..at], streamed);
        Assert.Equal(text[..at], events[^1].GetProperty("generated_text").GetString());
        Assert.Equal("stop_sequence", events[^1].GetProperty("details").GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task Validation_errors_come_before_the_stream_as_422()
    {
        var client = await server.ClientAsync();
        using var response = await client.PostJsonAsync("/generate_stream", """{"inputs": "Once", "parameters": {"top_p": 0}}""");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Equal("validation", (await response.ReadJsonAsync()).GetProperty("error_type").GetString());
    }
}

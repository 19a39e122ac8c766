namespace Llama2.Server.Tests.OpenAI;

/// <summary>Every error under /v1 has OpenAI's body <c>{"error": {"message", "type", "param", "code"}}</c>, never TGI's.</summary>
public sealed class OpenAIErrorTests(Tiny32kServer server) : IClassFixture<Tiny32kServer>
{
    const string User = """[{"role": "user", "content": "Hi"}]""";

    public static TheoryData<string, string, string, string?> BadRequests => new()
    {
        // Unreadable bodies and wrong types.
        { "/v1/chat/completions", "not json", "Failed to deserialize", null },
        { "/v1/chat/completions", "{\"messages\": ", "Failed to deserialize", "messages" },
        { "/v1/chat/completions", $$"""{"messages": {{User}}, "temperature": "hot"}""", "$.temperature", "temperature" },
        { "/v1/chat/completions", $$"""{"messages": {{User}}, "max_tokens": 1.5}""", "$.max_tokens", "max_tokens" },
        { "/v1/chat/completions", $$"""{"messages": {{User}}, "stream": "yes"}""", "$.stream", "stream" },
        { "/v1/chat/completions", """{"messages": "Hi"}""", "$.messages", "messages" },
        // The conversation.
        { "/v1/chat/completions", """{"model": "m"}""", "`messages` must hold at least one message", "messages" },
        { "/v1/chat/completions", """{"messages": []}""", "`messages` must hold at least one message", "messages" },
        { "/v1/chat/completions", """{"messages": [{"content": "Hi"}]}""", "`messages[0].role` is required", "messages[0].role" },
        { "/v1/chat/completions", """{"messages": [{"role": "user"}]}""", "`messages[0].content` is required", "messages[0].content" },
        { "/v1/chat/completions", """{"messages": [{"role": "user", "content": 7}]}""", "must be a string or an array of text parts", "messages[0].content" },
        { "/v1/chat/completions", """{"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}""", "only text parts", "messages[0].content[0]" },
        { "/v1/chat/completions", """{"messages": [{"role": "user", "content": [{"type": "text"}]}]}""", "`messages[0].content[0].text` must be a string", "messages[0].content[0].text" },
        { "/v1/chat/completions", """{"messages": [{"role": "tool", "content": "42"}]}""", "messages[0] has role 'tool'", "messages" },
        { "/v1/chat/completions", """{"messages": [{"role": "assistant", "content": "Hi"}]}""", "messages[0] is from the assistant where the user speaks", "messages" },
        { "/v1/chat/completions", """{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}""", "it must be from the user", "messages" },
        { "/v1/chat/completions", """{"messages": [{"role": "user", "content": "a"}, {"role": "system", "content": "b"}]}""", "only the first message may be one", "messages" },
        // Parameters.
        { "/v1/chat/completions", $$"""{"messages": {{User}}, "n": 2}""", "`n` must be 1", "n" },
        { "/v1/chat/completions", $$"""{"messages": {{User}}, "max_tokens": 0}""", "`max_tokens` must be strictly positive", "max_tokens" },
        { "/v1/chat/completions", $$"""{"messages": {{User}}, "max_completion_tokens": 5000}""", "`max_completion_tokens` must be <= 2048", "max_completion_tokens" },
        { "/v1/chat/completions", $$"""{"messages": {{User}}, "max_completion_tokens": 120}""", "`messages` tokens + `max_completion_tokens` must be <= 128", "max_completion_tokens" },
        { "/v1/chat/completions", $$"""{"messages": {{User}}, "max_completion_tokens": 5, "max_tokens": 6}""", "not both with different values", "max_tokens" },
        { "/v1/chat/completions", $$"""{"messages": {{User}}, "temperature": 2.5}""", "`temperature` must be between 0 and 2", "temperature" },
        { "/v1/chat/completions", $$"""{"messages": {{User}}, "top_p": 1.5}""", "`top_p` must be between 0 and 1", "top_p" },
        { "/v1/chat/completions", $$"""{"messages": {{User}}, "presence_penalty": 3}""", "`presence_penalty` must be between -2 and 2", "presence_penalty" },
        { "/v1/chat/completions", $$"""{"messages": {{User}}, "frequency_penalty": -2.5}""", "`frequency_penalty` must be between -2 and 2", "frequency_penalty" },
        { "/v1/chat/completions", $$"""{"messages": {{User}}, "stop": ["a", "b", "c", "d", "e"]}""", "`stop` supports up to 4 stop sequences", "stop" },
        { "/v1/chat/completions", $$"""{"messages": {{User}}, "stop": [""]}""", "each `stop` sequence must have 1 to 64 characters", "stop" },
        { "/v1/chat/completions", $$"""{"messages": {{User}}, "stop": 3}""", "`stop` must be a string or an array of strings", "stop" },
        { "/v1/chat/completions", $$"""{"messages": {{User}}, "top_logprobs": 2}""", "`top_logprobs` needs `logprobs` set to true", "top_logprobs" },
        { "/v1/chat/completions", $$"""{"messages": {{User}}, "logprobs": true, "top_logprobs": 21}""", "`top_logprobs` must be between 0 and 20", "top_logprobs" },
        { "/v1/chat/completions", $$$"""{"messages": {{{User}}}, "logit_bias": {"50256": -100}}""", "`logit_bias` is not supported", "logit_bias" },
        { "/v1/chat/completions", $$$"""{"messages": {{{User}}}, "tools": [{"type": "function", "function": {"name": "f"}}]}""", "`tools` are not supported", "tools" },
        { "/v1/chat/completions", $$$"""{"messages": {{{User}}}, "response_format": {"type": "json_object"}}""", "`response_format` of type 'json_object' is not supported", "response_format" },
        // Completions.
        { "/v1/completions", """{"model": "m"}""", "`prompt` is required", "prompt" },
        { "/v1/completions", """{"prompt": ["a", "b"]}""", "`prompt` must be a string (one prompt per request", "prompt" },
        { "/v1/completions", """{"prompt": [1, 2, 3]}""", "token arrays are not supported", "prompt" },
        { "/v1/completions", """{"prompt": "x", "echo": true}""", "`echo` is not supported", "echo" },
        { "/v1/completions", """{"prompt": "x", "suffix": "y"}""", "`suffix` is not supported", "suffix" },
        { "/v1/completions", """{"prompt": "x", "best_of": 3}""", "`best_of` must be 1", "best_of" },
        { "/v1/completions", """{"prompt": "x", "logprobs": 6}""", "`logprobs` must be between 0 and 5", "logprobs" },
        { "/v1/completions", """{"prompt": "x", "n": 3}""", "`n` must be 1", "n" },
        { "/v1/completions", """{"prompt": "x", "max_tokens": 127}""", "`prompt` tokens + `max_tokens` must be <= 128", "max_tokens" },
    };

    static async Task<JsonElement> ErrorOf(HttpResponseMessage response, HttpStatusCode status)
    {
        string text = await response.Content.ReadAsStringAsync(TestToken);
        Assert.True(response.StatusCode == status, $"{(int)response.StatusCode}: {text}");
        Assert.DoesNotContain("   at ", text); // no stack trace
        var body = JsonDocument.Parse(text).RootElement;
        Assert.Equal(["error"], body.EnumerateObject().Select(p => p.Name));
        var error = body.GetProperty("error");
        Assert.Equal(["message", "type", "param", "code"], error.EnumerateObject().Select(p => p.Name));
        return error;
    }

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task Bad_requests_get_400_invalid_request_error_naming_the_parameter(string path, string body, string message, string? param)
    {
        var client = await server.ClientAsync();
        using var response = await client.PostJsonAsync(path, body);
        var error = await ErrorOf(response, HttpStatusCode.BadRequest);
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Contains(message, error.GetProperty("message").GetString());
        Assert.Equal(param, error.GetProperty("param").GetString());
    }

    [Fact]
    public async Task A_conversation_over_the_limits_is_refused_before_it_is_encoded()
    {
        await using var factory = ServerFactory.Tiny32k(("Api:MaxChatMessages", "3"), ("Api:MaxContentParts", "2"), ("Api:MaxInputCharacters", "20"));
        var client = await factory.CreateReadyClientAsync();
        async Task<string> Refusal(object request)
        {
            using var response = await client.PostJsonAsync("/v1/chat/completions", JsonSerializer.Serialize(request));
            return (await ErrorOf(response, HttpStatusCode.BadRequest)).GetProperty("message").GetString()!;
        }
        var user = new { role = "user", content = "Hi" };
        var assistant = new { role = "assistant", content = "Hello" };
        Assert.Equal("`messages` may hold at most 3 messages. Given: 5", await Refusal(new { messages = new object[] { user, assistant, user, assistant, user } }));
        var parts = new[] { new { type = "text", text = "a" }, new { type = "text", text = "b" }, new { type = "text", text = "c" } };
        Assert.Equal("`messages[0].content` may hold at most 2 parts. Given: 3", await Refusal(new { messages = new[] { new { role = "user", content = parts } } }));
        Assert.Equal("`messages` must have at most 20 characters. Given: 24",
            await Refusal(new { messages = new[] { new { role = "system", content = "twelve chars" }, new { role = "user", content = "twelve chars" } } }));

        using var fits = await client.PostJsonAsync("/v1/chat/completions", JsonSerializer.Serialize(new { messages = new[] { user, assistant, user }, max_tokens = 2 }));
        Assert.Equal(HttpStatusCode.OK, fits.StatusCode);
    }

    [Fact]
    public async Task Unknown_routes_wrong_methods_media_types_and_sizes_answer_in_OpenAIs_shape()
    {
        var client = await server.ClientAsync();
        using (var missing = await client.PostJsonAsync("/v1/embeddings", """{"input": "x"}"""))
        {
            var error = await ErrorOf(missing, HttpStatusCode.NotFound);
            Assert.Equal("unknown_url", error.GetProperty("code").GetString());
            Assert.Equal("no such endpoint: POST /v1/embeddings", error.GetProperty("message").GetString());
        }
        using (var method = await client.GetAsync("/v1/chat/completions", TestToken))
            Assert.Equal("method_not_allowed", (await ErrorOf(method, HttpStatusCode.MethodNotAllowed)).GetProperty("code").GetString());
        using (var plain = await client.PostAsync("/v1/completions", new StringContent("""{"prompt": "x"}"""), TestToken))
            Assert.Equal("unsupported_media_type", (await ErrorOf(plain, HttpStatusCode.UnsupportedMediaType)).GetProperty("code").GetString());
        using (var large = await client.PostJsonAsync("/v1/completions", JsonSerializer.Serialize(new { prompt = new string('a', 200_000) })))
            Assert.Equal("request_too_large", (await ErrorOf(large, HttpStatusCode.RequestEntityTooLarge)).GetProperty("code").GetString());
        using (var model = await client.GetAsync("/v1/models/gpt-4o", TestToken))
        {
            var error = await ErrorOf(model, HttpStatusCode.NotFound);
            Assert.Equal("model_not_found", error.GetProperty("code").GetString());
            Assert.Equal("model", error.GetProperty("param").GetString());
        }

        // TGI's routes keep TGI's shape and status.
        using var tgi = await client.PostJsonAsync("/generate", "not json");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, tgi.StatusCode);
        Assert.Equal("validation", (await tgi.ReadJsonAsync()).GetProperty("error_type").GetString());
    }

    [Fact]
    public async Task A_full_queue_gets_429_with_retry_after()
    {
        await using var factory = ServerFactory.OneSlot(retryAfterSeconds: 3);
        var client = await factory.CreateReadyClientAsync();
        // The only slot held by a sequence nobody reads, and a request waiting in the queue.
        using var full = await factory.FillAsync(client, "/v1/completions", """{"prompt": "The cat", "max_tokens": 3}""");

        foreach (var (path, body) in new[]
                 {
                     ("/v1/chat/completions", $$"""{"messages": {{User}}}"""),
                     ("/v1/chat/completions", $$"""{"messages": {{User}}, "stream": true}"""),
                     ("/v1/completions", """{"prompt": "A dog"}"""),
                 })
        {
            using var refused = await client.PostJsonAsync(path, body);
            var error = await ErrorOf(refused, HttpStatusCode.TooManyRequests);
            Assert.Equal("3", Assert.Single(refused.Headers.GetValues("Retry-After")));
            Assert.Equal("rate_limit_error", error.GetProperty("type").GetString());
            Assert.Equal("server_is_overloaded", error.GetProperty("code").GetString());
        }

        full.Hold.Cancel();
        using var served = await full.Queued;
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
    }

    [Fact]
    public async Task While_the_model_loads_every_v1_endpoint_answers_503_in_OpenAIs_shape()
    {
        var loader = new GatedLoader();
        await using var factory = ServerFactory.Tiny32kLoadedBy(loader);
        var client = factory.CreateClient();
        var requests = new Func<Task<HttpResponseMessage>>[]
        {
            () => client.PostJsonAsync("/v1/chat/completions", $$"""{"messages": {{User}}}"""),
            () => client.PostJsonAsync("/v1/completions", """{"prompt": "x"}"""),
            () => client.GetAsync("/v1/models", TestToken),
        };
        foreach (var send in requests)
        {
            using var response = await send();
            var error = await ErrorOf(response, HttpStatusCode.ServiceUnavailable);
            Assert.Equal("service_unavailable_error", error.GetProperty("type").GetString());
            Assert.Equal("model_not_loaded", error.GetProperty("code").GetString());
            Assert.Equal("1", Assert.Single(response.Headers.GetValues("Retry-After")));
        }
        // A malformed body is still answered as such, before the model is needed.
        using (var bad = await client.PostJsonAsync("/v1/completions", "not json"))
            await ErrorOf(bad, HttpStatusCode.BadRequest);

        loader.Release.Set();
        await factory.CreateReadyClientAsync();
        using var ready = await client.GetAsync("/v1/models", TestToken);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
    }
}

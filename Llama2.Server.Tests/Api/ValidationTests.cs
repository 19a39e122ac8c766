namespace Llama2.Server.Tests.Api;

/// <summary>Every bad input gets a clear error in TGI's body, never a crash or a stack trace.</summary>
public sealed class ValidationTests(Tiny32kServer server) : IClassFixture<Tiny32kServer>
{
    public static TheoryData<string, string, string> UnprocessableRequests => new()
    {
        { "/generate", "not json", "Failed to deserialize" },
        { "/generate", """{"inputs": "x", "parameters": {"temperature": "hot"}}""", "$.parameters.temperature" },
        { "/generate", """{"inputs": 42}""", "$.inputs" },
        { "/generate", """{"inputs": "x", "parameters": {"stop": "one"}}""", "$.parameters.stop" },
        { "/generate", """{"inputs": "x", "parameters": {"seed": -1}}""", "$.parameters.seed" },
        { "/generate", """{"inputs": "x", "parameters": {"max_new_tokens": 1.5}}""", "$.parameters.max_new_tokens" },
        { "/generate", "{\"inputs\": \"x\"", "Failed to deserialize" },
        { "/generate", """{"parameters": {}}""", "`inputs` cannot be empty" },
        { "/generate", """{"inputs": ""}""", "`inputs` cannot be empty" },
        { "/generate", """{"inputs": "x", "parameters": {"max_new_tokens": 0}}""", "`max_new_tokens` must be strictly positive" },
        { "/generate", """{"inputs": "x", "parameters": {"max_new_tokens": -3}}""", "`max_new_tokens` must be strictly positive" },
        { "/generate", """{"inputs": "x", "parameters": {"max_new_tokens": 5000}}""", "`max_new_tokens` must be <= 2048" },
        { "/generate", """{"inputs": "x", "parameters": {"max_new_tokens": 127}}""", "`inputs` tokens + `max_new_tokens` must be <= 128" },
        { "/generate", """{"inputs": "x", "parameters": {"temperature": -0.5}}""", "`temperature` must be >= 0" },
        { "/generate", """{"inputs": "x", "parameters": {"top_p": 0}}""", "`top_p` must be > 0.0 and <= 1.0" },
        { "/generate", """{"inputs": "x", "parameters": {"top_p": 1.5}}""", "`top_p` must be > 0.0 and <= 1.0" },
        { "/generate", """{"inputs": "x", "parameters": {"top_k": 0}}""", "`top_k` must be strictly positive" },
        { "/generate", """{"inputs": "x", "parameters": {"repetition_penalty": 0}}""", "`repetition_penalty` must be strictly positive" },
        { "/generate", """{"inputs": "x", "parameters": {"stop": ["a", "b", "c", "d", "e"]}}""", "`stop` supports up to 4 stop sequences" },
        { "/generate", """{"inputs": "x", "parameters": {"stop": [""]}}""", "each `stop` sequence must have 1 to 64 characters" },
        { "/generate_stream", """{"inputs": "x", "parameters": {"max_new_tokens": 0}}""", "`max_new_tokens` must be strictly positive" },
        { "/tokenize", """{"inputs": ""}""", "`inputs` cannot be empty" },
        { "/tokenize", """{"inputs": []}""", "$.inputs" },
    };

    [Theory]
    [MemberData(nameof(UnprocessableRequests))]
    public async Task Bad_requests_get_422_with_a_validation_error(string path, string body, string message)
    {
        var client = await server.ClientAsync();
        using var response = await client.PostJsonAsync(path, body);
        string text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.StatusCode == HttpStatusCode.UnprocessableEntity, $"{(int)response.StatusCode}: {text}");
        var error = JsonDocument.Parse(text).RootElement;
        Assert.Equal("validation", error.GetProperty("error_type").GetString());
        Assert.Contains(message, error.GetProperty("error").GetString());
        Assert.DoesNotContain("   at ", text); // no stack trace
    }

    [Fact]
    public async Task A_prompt_longer_than_the_context_is_refused()
    {
        var (status, error) = await GenerateAsync(string.Join(" ", Enumerable.Range(0, 200).Select(i => "word" + i)));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.Contains("`inputs` must have less than 128 tokens", error.GetProperty("error").GetString());
    }

    [Fact]
    public async Task Too_many_characters_are_refused_before_tokenizing()
    {
        var (status, error) = await GenerateAsync(new string('a', 9000));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.Contains("at most 8192 characters", error.GetProperty("error").GetString());
    }

    [Fact]
    public async Task A_body_over_the_limit_gets_413()
    {
        var (status, error) = await GenerateAsync(new string('a', 200_000));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.Equal("validation", error.GetProperty("error_type").GetString());
    }

    /// <summary>POSTs <c>{"inputs": inputs}</c> to /generate: the status and the JSON body.</summary>
    async Task<(HttpStatusCode Status, JsonElement Body)> GenerateAsync(string inputs)
    {
        var client = await server.ClientAsync();
        using var response = await client.PostJsonAsync("/generate", JsonSerializer.Serialize(new { inputs }));
        return (response.StatusCode, await response.ReadJsonAsync());
    }

    [Fact]
    public async Task Wrong_content_type_unknown_path_and_wrong_method_get_error_bodies()
    {
        var client = await server.ClientAsync();
        var ct = TestContext.Current.CancellationToken;
        using var plain = await client.PostAsync("/generate", new StringContent("""{"inputs":"x"}"""), ct);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, plain.StatusCode);
        Assert.Contains("application/json", (await plain.ReadJsonAsync()).GetProperty("error").GetString());

        using var missing = await client.GetAsync("/nope", ct);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("validation", (await missing.ReadJsonAsync()).GetProperty("error_type").GetString());

        using var method = await client.GetAsync("/generate", ct);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, method.StatusCode);
    }

    [Fact]
    public async Task Unknown_fields_are_ignored_as_TGI_does()
    {
        var client = await server.ClientAsync();
        using var response = await client.PostJsonAsync("/generate", """{"inputs": "x", "parameters": {"max_new_tokens": 2, "watermark": false}, "extra": 1}""");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}

namespace Llama2.Server.Tests.Api;

/// <summary>GET /info, POST /tokenize, the OpenAPI document and Swagger UI.</summary>
public sealed class InfoTokenizeOpenApiTests(Tiny32kServer server) : IClassFixture<Tiny32kServer>
{
    [Fact]
    public async Task Info_describes_the_model_and_the_limits()
    {
        var client = await server.ClientAsync();
        using var response = await client.GetAsync("/info", TestToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var info = await response.ReadJsonAsync();
        Assert.Equal("tiny32k", info.GetProperty("model_id").GetString());
        Assert.Equal(128, info.GetProperty("max_total_tokens").GetInt32());
        Assert.Equal(127, info.GetProperty("max_input_tokens").GetInt32());
        Assert.Equal(4, info.GetProperty("max_stop_sequences").GetInt32());
        Assert.False(string.IsNullOrEmpty(info.GetProperty("version").GetString()));
        var model = info.GetProperty("model");
        Assert.Equal(48, model.GetProperty("dim").GetInt32());
        Assert.Equal(32000, model.GetProperty("vocab_size").GetInt32());
        Assert.Equal(2, model.GetProperty("n_kv_heads").GetInt32());
        Assert.Equal(new FileInfo(SharedData.Tiny32k).Length, model.GetProperty("file_bytes").GetInt64());
        Assert.Equal(0, info.GetProperty("queue_depth").GetInt32());
        Assert.Equal("float32", info.GetProperty("model_dtype").GetString());
        Assert.Equal("none", info.GetProperty("quantization").GetString());
    }

    [Fact]
    public async Task A_context_cap_per_slot_shows_in_info_and_bounds_the_input()
    {
        await using var factory = ServerFactory.Tiny32k(("Model:ContextTokensPerSlot", "32"));
        var client = await factory.CreateReadyClientAsync();
        var info = await (await client.GetAsync("/info", TestToken)).ReadJsonAsync();
        Assert.Equal(32, info.GetProperty("max_total_tokens").GetInt32());
        Assert.Equal(31, info.GetProperty("max_input_tokens").GetInt32());
        Assert.Equal(128, info.GetProperty("model").GetProperty("seq_len").GetInt32());

        using var tooMany = await client.PostJsonAsync("/generate", """{"inputs": "Once upon a time", "parameters": {"max_new_tokens": 40}}""");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, tooMany.StatusCode);
        Assert.Contains("`inputs` tokens + `max_new_tokens` must be <= 32", (await tooMany.ReadJsonAsync()).GetProperty("error").GetString());

        using var fits = await client.PostJsonAsync("/generate", """{"inputs": "Once upon a time", "parameters": {"max_new_tokens": 20, "details": true}}""");
        Assert.Equal(HttpStatusCode.OK, fits.StatusCode);
        Assert.Equal(20, (await fits.ReadJsonAsync()).GetProperty("details").GetProperty("generated_tokens").GetInt32());
    }

    [Fact]
    public async Task Tokenize_gives_ids_texts_and_offsets()
    {
        var client = await server.ClientAsync();
        using var response = await client.PostJsonAsync("/tokenize", """{"inputs": "Hello wörld"}""");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var tokens = (await response.ReadJsonAsync()).EnumerateArray().ToList();
        Assert.Equal(1, tokens[0].GetProperty("id").GetInt32());
        Assert.Equal("<s>", tokens[0].GetProperty("text").GetString());
        const string input = "Hello wörld";
        foreach (var token in tokens.Skip(1))
        {
            int start = token.GetProperty("start").GetInt32(), stop = token.GetProperty("stop").GetInt32();
            Assert.Equal(token.GetProperty("text").GetString()!.TrimStart(' '), input[start..stop].TrimStart(' '));
        }
        Assert.Equal(input.Length, tokens[^1].GetProperty("stop").GetInt32());

        using var plain = await client.PostJsonAsync("/tokenize", """{"inputs": "Hello", "add_special_tokens": false}""");
        Assert.NotEqual(1, (await plain.ReadJsonAsync())[0].GetProperty("id").GetInt32());
    }

    [Fact]
    public async Task The_OpenAPI_document_describes_every_endpoint_and_swagger_ui_shows_it()
    {
        var client = await server.ClientAsync();
        using var response = await client.GetAsync("/openapi/v1.json", TestToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var paths = (await response.ReadJsonAsync()).GetProperty("paths");
        (string Path, string Method)[] endpoints =
            [("/generate", "post"), ("/generate_stream", "post"), ("/info", "get"), ("/health", "get"), ("/tokenize", "post"),
             ("/v1/chat/completions", "post"), ("/v1/completions", "post"), ("/v1/models", "get"), ("/v1/models/{model}", "get")];
        foreach (var (path, method) in endpoints)
        {
            var operation = paths.GetProperty(path).GetProperty(method);
            Assert.False(string.IsNullOrEmpty(operation.GetProperty("summary").GetString()), path);
            Assert.False(string.IsNullOrEmpty(operation.GetProperty("description").GetString()), path);
            Assert.True(operation.GetProperty("responses").TryGetProperty("200", out _), path);
        }
        var generate = paths.GetProperty("/generate").GetProperty("post");
        Assert.True(generate.GetProperty("requestBody").GetProperty("content").GetProperty("application/json").TryGetProperty("example", out _));
        var responses = generate.GetProperty("responses");
        foreach (var status in new[] { "422", "429", "503" }) Assert.True(responses.TryGetProperty(status, out _), status);
        Assert.True(paths.GetProperty("/generate_stream").GetProperty("post").GetProperty("responses").GetProperty("200")
            .GetProperty("content").TryGetProperty("text/event-stream", out _));

        // OpenAI's: an example request, the JSON answer and the chunk stream, errors with OpenAI's body.
        foreach (var path in new[] { "/v1/chat/completions", "/v1/completions" })
        {
            var operation = paths.GetProperty(path).GetProperty("post");
            Assert.True(operation.GetProperty("requestBody").GetProperty("content").GetProperty("application/json").TryGetProperty("example", out _), path);
            var ok = operation.GetProperty("responses").GetProperty("200").GetProperty("content");
            Assert.True(ok.TryGetProperty("application/json", out _) && ok.TryGetProperty("text/event-stream", out _), path);
            foreach (var status in new[] { "400", "429", "503" })
            {
                var schema = operation.GetProperty("responses").GetProperty(status).GetProperty("content").GetProperty("application/json").GetProperty("schema");
                Assert.EndsWith("OpenAIErrorResponse", schema.GetProperty("$ref").GetString());
            }
        }

        using var ui = await client.GetAsync("/swagger/index.html", TestToken);
        Assert.Equal(HttpStatusCode.OK, ui.StatusCode);
    }
}

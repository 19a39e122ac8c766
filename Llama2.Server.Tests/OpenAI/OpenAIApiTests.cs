using EngineMessage = Llama2.Engine.Chat.ChatMessage;

namespace Llama2.Server.Tests.OpenAI;

/// <summary>The /v1 endpoints' JSON answers, raw: what is accepted, what each field holds, and how sampling maps.</summary>
public sealed class OpenAIApiTests(Tiny32kServer server) : IClassFixture<Tiny32kServer>
{
    static async Task<JsonElement> PostAsync(HttpClient client, string path, string body)
    {
        using var response = await client.PostJsonAsync(path, body);
        string text = await response.Content.ReadAsStringAsync(TestToken);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement;
    }

    static string Content(JsonElement completion) => completion.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;

    [Fact]
    public async Task A_chat_completion_has_OpenAIs_fields_and_the_timing_headers()
    {
        var client = await server.ClientAsync();
        using var response = await client.PostJsonAsync("/v1/chat/completions",
            """{"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 6, "seed": 3, "user": "someone", "store": false, "metadata": {"a": "b"}}""");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode); // unknown fields ignored, any model name, user accepted
        foreach (var header in new[] { "x-tokens-per-second", "x-generated-tokens", "x-prompt-tokens", "x-time-per-token", "x-inference-time", "x-queue-time" })
            Assert.True(response.Headers.Contains(header), header);
        Assert.True(double.Parse(response.Headers.GetValues("x-tokens-per-second").Single(), System.Globalization.CultureInfo.InvariantCulture) > 0);
        Assert.Equal("6", response.Headers.GetValues("x-generated-tokens").Single());

        var body = await response.ReadJsonAsync();
        Assert.StartsWith("chatcmpl-", body.GetProperty("id").GetString());
        Assert.Equal("chat.completion", body.GetProperty("object").GetString());
        Assert.InRange(body.GetProperty("created").GetInt64(), DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 60, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1);
        Assert.Equal("tiny32k", body.GetProperty("model").GetString()); // the served model, whatever was asked
        Assert.Matches("^fp_[0-9a-f]{10}$", body.GetProperty("system_fingerprint").GetString());
        var choice = Assert.Single(body.GetProperty("choices").EnumerateArray());
        Assert.Equal(0, choice.GetProperty("index").GetInt32());
        Assert.Equal("assistant", choice.GetProperty("message").GetProperty("role").GetString());
        Assert.Equal(JsonValueKind.Null, choice.GetProperty("message").GetProperty("refusal").ValueKind);
        Assert.Equal(JsonValueKind.Null, choice.GetProperty("logprobs").ValueKind);
        Assert.Equal("length", choice.GetProperty("finish_reason").GetString());
        var usage = body.GetProperty("usage");
        Assert.Equal(6, usage.GetProperty("completion_tokens").GetInt32());
        Assert.Equal(usage.GetProperty("prompt_tokens").GetInt32() + 6, usage.GetProperty("total_tokens").GetInt32());
    }

    [Fact]
    public async Task Developer_is_system_and_text_parts_are_the_string_they_spell()
    {
        var client = await server.ClientAsync();
        const string tail = """, "max_tokens": 8, "temperature": 0}""";
        string plain = Content(await PostAsync(client, "/v1/chat/completions",
            """{"messages": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hello\nthere"}]""" + tail));
        string parts = Content(await PostAsync(client, "/v1/chat/completions",
            """{"messages": [{"role": "developer", "content": [{"type": "text", "text": "Be kind."}]}, {"role": "user", "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": "there"}]}]""" + tail));
        Assert.Equal(plain, parts);
        var expected = await OpenAIClients.EngineReplyAsync(server.Factory, [new("system", "Be kind."), new("user", "Hello\nthere")], new SamplingOptions { Temperature = 0 }, 8);
        Assert.Equal(OpenAIClients.Reply(expected), plain);
    }

    [Fact]
    public async Task Top_p_zero_is_greedy_and_penalties_reach_the_sampler()
    {
        var client = await server.ClientAsync();
        EngineMessage[] conversation = [new("user", "Once upon a time")];
        const string messages = """{"messages": [{"role": "user", "content": "Once upon a time"}], "max_tokens": 40""";
        string greedy = Content(await PostAsync(client, "/v1/chat/completions", messages + """, "temperature": 0}"""));
        Assert.Equal(greedy, Content(await PostAsync(client, "/v1/chat/completions", messages + """, "top_p": 0, "seed": 9}""")));

        string penalised = Content(await PostAsync(client, "/v1/chat/completions",
            messages + """, "temperature": 0, "presence_penalty": 1.5, "frequency_penalty": 2}"""));
        var expected = await OpenAIClients.EngineReplyAsync(server.Factory, conversation,
            new SamplingOptions { Temperature = 0, PresencePenalty = 1.5f, FrequencyPenalty = 2f }, 40);
        Assert.Equal(OpenAIClients.Reply(expected), penalised);
        Assert.NotEqual(greedy, penalised); // they change the greedy reply
    }

    [Fact]
    public async Task A_completion_has_OpenAIs_fields_and_legacy_log_probabilities()
    {
        var client = await server.ClientAsync();
        var body = await PostAsync(client, "/v1/completions", """{"model": "m", "prompt": ["Once upon a time"], "max_tokens": 6, "temperature": 0, "logprobs": 3}""");
        Assert.StartsWith("cmpl-", body.GetProperty("id").GetString());
        Assert.Equal("text_completion", body.GetProperty("object").GetString());
        Assert.Equal("tiny32k", body.GetProperty("model").GetString());
        var choice = Assert.Single(body.GetProperty("choices").EnumerateArray());
        Assert.Equal("length", choice.GetProperty("finish_reason").GetString());
        string text = choice.GetProperty("text").GetString()!;
        using (var tgi = await client.PostJsonAsync("/generate", """{"inputs": "Once upon a time", "parameters": {"max_new_tokens": 6}}"""))
            Assert.Equal((await tgi.ReadJsonAsync()).GetProperty("generated_text").GetString(), text); // greedy, as TGI's default

        var logprobs = choice.GetProperty("logprobs");
        var tokens = logprobs.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()!).ToList();
        var offsets = logprobs.GetProperty("text_offset").EnumerateArray().Select(o => o.GetInt32()).ToList();
        Assert.Equal(6, tokens.Count);
        Assert.Equal(text, string.Concat(tokens));
        Assert.Equal(tokens.Select((t, i) => tokens.Take(i).Sum(p => p.Length)), offsets);
        var top = logprobs.GetProperty("top_logprobs").EnumerateArray().ToList();
        var picks = logprobs.GetProperty("token_logprobs").EnumerateArray().Select(l => l.GetSingle()).ToList();
        for (int i = 0; i < 6; i++)
        {
            Assert.InRange(top[i].EnumerateObject().Count(), 1, 3);
            Assert.Equal(picks[i], top[i].GetProperty(tokens[i]).GetSingle()); // greedy: the pick is the most likely
            Assert.All(top[i].EnumerateObject(), alternative => Assert.True(alternative.Value.GetSingle() <= picks[i]));
        }
        var usage = body.GetProperty("usage");
        Assert.Equal(5, usage.GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(6, usage.GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task An_empty_prompt_generates_from_BOS_and_a_stop_sequence_finishes_with_stop()
    {
        var client = await server.ClientAsync();
        var fromBos = await PostAsync(client, "/v1/completions", """{"prompt": "", "max_tokens": 12, "temperature": 0}""");
        Assert.Equal(1, fromBos.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        string text = fromBos.GetProperty("choices")[0].GetProperty("text").GetString()!;

        string stop = text.Substring(text.Length / 2, 2);
        var stopped = await PostAsync(client, "/v1/completions", JsonSerializer.Serialize(new { prompt = "", max_tokens = 12, temperature = 0, stop }));
        Assert.Equal(text[..text.IndexOf(stop, StringComparison.Ordinal)], stopped.GetProperty("choices")[0].GetProperty("text").GetString());
        Assert.Equal("stop", stopped.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task Models_lists_the_served_model()
    {
        var client = await server.ClientAsync();
        using var response = await client.GetAsync("/v1/models", TestToken);
        var list = await response.ReadJsonAsync();
        Assert.Equal("list", list.GetProperty("object").GetString());
        var model = Assert.Single(list.GetProperty("data").EnumerateArray());
        Assert.Equal("tiny32k", model.GetProperty("id").GetString());
        Assert.Equal("model", model.GetProperty("object").GetString());
        Assert.Equal("llama2-dotnet", model.GetProperty("owned_by").GetString());
        Assert.Equal(new DateTimeOffset(File.GetLastWriteTimeUtc(SharedData.Tiny32k)).ToUnixTimeSeconds(), model.GetProperty("created").GetInt64());

        using var one = await client.GetAsync("/v1/models/tiny32k", TestToken);
        Assert.Equal(model.GetRawText(), (await one.ReadJsonAsync()).GetRawText());
    }
}

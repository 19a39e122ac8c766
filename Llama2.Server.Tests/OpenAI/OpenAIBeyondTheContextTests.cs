using Llama2.Engine.Chat;
using Llama2.Engine.Tokenization;
using OpenAI.Chat;
using EngineMessage = Llama2.Engine.Chat.ChatMessage;

namespace Llama2.Server.Tests.OpenAI;

/// <summary>
/// The /v1 endpoints past tiny32k's 128-position context: a conversation that leaves out its oldest turns and keeps its
/// system prompt, completions' <c>truncate</c>, <c>context_shift</c>, what <c>usage</c> says of them, and the errors
/// when neither is asked for.
/// </summary>
public sealed class OpenAIBeyondTheContextTests(Tiny32kServer server) : IClassFixture<Tiny32kServer>
{
    static readonly SamplingOptions Greedy = new() { Temperature = 0 };
    const string System = "You are a storyteller who tells short stories.";

    /// <summary>A system message, six finished turns and a last question: about twice the context.</summary>
    static readonly EngineMessage[] LongConversation =
    [
        new(ChatRole.System, System),
        .. Enumerable.Range(1, 6).SelectMany(i => new EngineMessage[]
        {
            new(ChatRole.User, $"Tell me about the cat number {i} and its friends."),
            new(ChatRole.Assistant, $"The cat number {i} had many friends in the village."),
        }),
        new(ChatRole.User, "And the last one?"),
    ];

    /// <summary>The template over tiny32k's tokenizer, whichever server a test started.</summary>
    static Llama2ChatTemplate Template => new(Tokenizer.Load(SharedData.Tokenizer32k));

    static string ChatBody(IEnumerable<EngineMessage> messages, string extra) =>
        $$"""{"messages": {{JsonSerializer.Serialize(messages.Select(m => new { role = m.Role, content = m.Content }))}}, "temperature": 0{{extra}}}""";

    static async Task<JsonElement> PostAsync(HttpClient client, string path, string body)
    {
        using var response = await client.PostJsonAsync(path, body);
        string text = await response.Content.ReadAsStringAsync(TestToken);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement;
    }

    static async Task<JsonElement> RefusedAsync(HttpClient client, string path, string body)
    {
        using var response = await client.PostJsonAsync(path, body);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = (await response.ReadJsonAsync()).GetProperty("error");
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        return error;
    }

    static int? Extension(JsonElement usage, string name) => usage.TryGetProperty(name, out var value) ? value.GetInt32() : null;

    /// <summary>
    /// The messages kept: the system message, then the most recent turns whose prompt leaves room for the reply (at
    /// least the last user message).
    /// </summary>
    EngineMessage[] KeptConversation(int replyTokens)
    {
        for (int dropped = 0; ; dropped += 2)
        {
            EngineMessage[] kept = [LongConversation[0], .. LongConversation[(1 + dropped)..]];
            if (Template.Encode(kept).Length + replyTokens <= 128 || kept.Length == 2) return kept;
        }
    }

    [Fact]
    public async Task A_long_conversation_leaves_out_its_oldest_turns_and_keeps_its_system_prompt()
    {
        var client = await server.ClientAsync();
        int whole = Template.Encode(LongConversation).Length;
        Assert.True(whole > 128);
        var error = await RefusedAsync(client, "/v1/chat/completions", ChatBody(LongConversation, """, "max_tokens": 20"""));
        Assert.Equal($"`messages` must have less than 128 tokens. Given: {whole}", error.GetProperty("message").GetString());
        Assert.Equal("messages", error.GetProperty("param").GetString());

        var body = await PostAsync(client, "/v1/chat/completions", ChatBody(LongConversation, """, "max_tokens": 20, "context_shift": true"""));
        var kept = KeptConversation(20);
        Assert.Equal(System, kept[0].Content);
        int keptTokens = Template.Encode(kept).Length;
        var usage = body.GetProperty("usage");
        Assert.Equal((keptTokens, LongConversation.Length - kept.Length, whole - keptTokens, (int?)null),
            (usage.GetProperty("prompt_tokens").GetInt32(), Extension(usage, "dropped_messages"), Extension(usage, "truncated_tokens"),
             Extension(usage, "context_shifts"))); // the reply had room: no shift
        var expected = await OpenAIClients.EngineReplyAsync(server.Factory, kept, Greedy, 20);
        Assert.Equal(OpenAIClients.Reply(expected), body.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
    }

    [Fact]
    public async Task A_reply_longer_than_the_room_left_shifts_and_keeps_the_system_prompt()
    {
        var client = await server.ClientAsync();
        var body = await PostAsync(client, "/v1/chat/completions", ChatBody(LongConversation, """, "max_tokens": 150, "context_shift": true"""));
        var usage = body.GetProperty("usage");
        Assert.Equal(150, usage.GetProperty("completion_tokens").GetInt32());
        Assert.True(Extension(usage, "context_shifts") >= 1, usage.ToString());

        // The reply is the engine's for the kept conversation, its shifts never dropping BOS and the system block.
        var kept = KeptConversation(64); // the reply's room is at most half the window
        var ids = Template.Encode(kept);
        var shift = new ContextShift { Keep = Template.SystemPrefixLength(ids, System) };
        Assert.Equal(LongConversation.Length - kept.Length, Extension(usage, "dropped_messages"));
        var expected = await OpenAIClients.EngineRunAsync(server.Factory, ids, Greedy, 150, shift: shift);
        Assert.Equal(OpenAIClients.Reply(expected), body.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
        Assert.Equal((expected.ContextShifts, expected.DiscardedTokens), (Extension(usage, "context_shifts"), Extension(usage, "discarded_tokens")));
    }

    [Fact]
    public async Task Completions_truncate_and_shift_and_usage_says_so_only_when_they_happen()
    {
        var client = await server.ClientAsync();
        var tokenizer = Assert.IsType<LoadedModel>(server.Factory.ModelHost.Loaded).Model.Tokenizer;
        string story = string.Concat(Enumerable.Repeat("Once upon a time there was a little cat. ", 25));
        int length = tokenizer.Encode(story, bos: true, eos: false).Count;

        var usage = (await PostAsync(client, "/v1/completions", $$"""{"prompt": "{{story}}", "max_tokens": 10, "truncate": 30, "temperature": 0}"""))
            .GetProperty("usage");
        Assert.Equal((30, length - 30, (int?)null), (usage.GetProperty("prompt_tokens").GetInt32(), Extension(usage, "truncated_tokens"),
            Extension(usage, "context_shifts")));

        usage = (await PostAsync(client, "/v1/completions", """{"prompt": "Once upon a time", "max_tokens": 200, "context_shift": true, "temperature": 0}"""))
            .GetProperty("usage");
        Assert.Equal((200, 2, 126), (usage.GetProperty("completion_tokens").GetInt32(), Extension(usage, "context_shifts"),
            Extension(usage, "discarded_tokens")));

        // Nothing left out: usage is OpenAI's three counts only.
        usage = (await PostAsync(client, "/v1/completions", """{"prompt": "Once upon a time", "max_tokens": 5}""")).GetProperty("usage");
        Assert.Equal(["prompt_tokens", "completion_tokens", "total_tokens"], usage.EnumerateObject().Select(p => p.Name));

        var error = await RefusedAsync(client, "/v1/completions", """{"prompt": "Once upon a time", "max_tokens": 200}""");
        Assert.Equal("`prompt` tokens + `max_tokens` must be <= 128. Given: 5 `prompt` tokens and 200 `max_tokens`", error.GetProperty("message").GetString());
        error = await RefusedAsync(client, "/v1/completions", """{"prompt": "Once upon a time", "truncate": 500}""");
        Assert.Equal("truncate", error.GetProperty("param").GetString());
    }

    [Fact]
    public async Task A_system_prompt_over_half_the_context_cannot_go_on_past_it()
    {
        var client = await server.ClientAsync();
        EngineMessage[] conversation = [new(ChatRole.System, string.Concat(Enumerable.Repeat("Be kind. ", 20))), new(ChatRole.User, "Hi")];
        var error = await RefusedAsync(client, "/v1/chat/completions", ChatBody(conversation, """, "context_shift": true"""));
        Assert.Contains("the system message is", error.GetProperty("message").GetString());
        Assert.Equal("messages", error.GetProperty("param").GetString());
    }

    [Fact]
    public async Task The_OpenAI_SDK_reads_a_reply_that_went_past_the_context_on_a_server_that_shifts_by_default()
    {
        await using var factory = ServerFactory.Tiny32k(("Model:ContextShift", "true"));
        var client = OpenAIClients.Chat(await factory.CreateReadyClientAsync());
        List<global::OpenAI.Chat.ChatMessage> messages =
        [
            new SystemChatMessage(System),
            .. LongConversation[1..].Select(m => m.Role == ChatRole.User
                ? (global::OpenAI.Chat.ChatMessage)new UserChatMessage(m.Content) : new AssistantChatMessage(m.Content)),
        ];
        ChatCompletion completion = await client.CompleteChatAsync(messages,
            new ChatCompletionOptions { MaxOutputTokenCount = 150, Temperature = 0 }, TestToken);

        Assert.Equal(ChatFinishReason.Length, completion.FinishReason);
        Assert.Equal(150, completion.Usage.OutputTokenCount);
        var kept = KeptConversation(64);
        Assert.Equal(Template.Encode(kept).Length, completion.Usage.InputTokenCount);
        var ids = Template.Encode(kept);
        var expected = await OpenAIClients.EngineRunAsync(factory, ids, Greedy, 150,
            shift: new ContextShift { Keep = Template.SystemPrefixLength(ids, System) });
        Assert.Equal(OpenAIClients.Reply(expected), completion.Content[0].Text);
    }
}

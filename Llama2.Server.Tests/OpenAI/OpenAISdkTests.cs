using OpenAI.Chat;
using EngineMessage = Llama2.Engine.Chat.ChatMessage;

namespace Llama2.Server.Tests.OpenAI;

/// <summary>
/// The official OpenAI .NET SDK (NuGet OpenAI) against the server's /v1/chat/completions on tiny32k: answers and streams
/// equal what the engine generates for the conversation through the Llama 2 chat template, with the SDK's own
/// requests (it sends max_completion_tokens, and stream_options.include_usage when streaming).
/// </summary>
public sealed class OpenAISdkTests(Tiny32kServer server) : IClassFixture<Tiny32kServer>
{
    static readonly EngineMessage[] Conversation =
    [
        new("system", "You are a storyteller."),
        new("user", "Tell me a story."),
    ];

    static List<ChatMessage> Sdk(IEnumerable<EngineMessage> messages) => [.. messages.Select<EngineMessage, ChatMessage>(m => m.Role switch
    {
        "system" => new SystemChatMessage(m.Content),
        "assistant" => new AssistantChatMessage(m.Content),
        _ => new UserChatMessage(m.Content),
    })];

    static int PromptTokens(ServerFactory factory, IReadOnlyList<EngineMessage> conversation) =>
        new Engine.Chat.Llama2ChatTemplate(factory.ModelHost.Loaded!.Model.Tokenizer).Encode(conversation).Length;

#pragma warning disable OPENAI001 // Seed is marked experimental in the SDK
    static ChatCompletionOptions Sampled(int maxTokens, long seed) => new() { MaxOutputTokenCount = maxTokens, Temperature = 0.8f, Seed = seed };
#pragma warning restore OPENAI001

    [Fact]
    public async Task CompleteChat_answers_the_engines_reply_with_usage_and_the_length_finish()
    {
        var http = await server.ClientAsync();
        var chat = OpenAIClients.Chat(http);
        var completion = (await chat.CompleteChatAsync(Sdk(Conversation), Sampled(12, 42), TestToken)).Value;

        var expected = await OpenAIClients.EngineReplyAsync(server.Factory, Conversation, new SamplingOptions { Temperature = 0.8f, TopP = 1f, Seed = 42 }, 12);
        Assert.Equal(OpenAIClients.Reply(expected), Assert.Single(completion.Content).Text);
        Assert.Equal(FinishReason.Length, expected.FinishReason); // 12 tokens of a random model: it does not end by itself
        Assert.Equal(ChatFinishReason.Length, completion.FinishReason);
        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        Assert.Equal(12, completion.Usage.OutputTokenCount); // max_completion_tokens, as the SDK sends it
        Assert.Equal(PromptTokens(server.Factory, Conversation), completion.Usage.InputTokenCount);
        Assert.Equal(completion.Usage.InputTokenCount + 12, completion.Usage.TotalTokenCount);
        Assert.Equal("tiny32k", completion.Model);
        Assert.StartsWith("chatcmpl-", completion.Id);
        Assert.StartsWith("fp_", completion.SystemFingerprint);
    }

    [Fact]
    public async Task CompleteChatStreaming_streams_the_same_reply_role_first_then_the_finish_and_the_usage()
    {
        var http = await server.ClientAsync();
        var chat = OpenAIClients.Chat(http);
        var whole = (await chat.CompleteChatAsync(Sdk(Conversation), Sampled(16, 7), TestToken)).Value;

        var updates = new List<StreamingChatCompletionUpdate>();
        await foreach (var update in chat.CompleteChatStreamingAsync(Sdk(Conversation), Sampled(16, 7), TestToken)) updates.Add(update);

        Assert.Equal(ChatMessageRole.Assistant, updates[0].Role);
        Assert.Equal(whole.Content[0].Text, string.Concat(updates.SelectMany(u => u.ContentUpdate).Select(p => p.Text)));
        Assert.True(updates.Count(u => u.ContentUpdate.Count > 0) >= 2, "the reply came in one piece");
        Assert.Equal(ChatFinishReason.Length, Assert.Single(updates, u => u.FinishReason is not null).FinishReason);
        var usage = Assert.Single(updates, u => u.Usage is not null).Usage; // the SDK asks for it (include_usage)
        Assert.Equal(16, usage.OutputTokenCount);
        Assert.Equal(whole.Usage.InputTokenCount, usage.InputTokenCount);
        Assert.All(updates, u => Assert.Equal(updates[0].CompletionId, u.CompletionId));
    }

    [Fact]
    public async Task Stop_sequences_end_the_reply_before_them()
    {
        var http = await server.ClientAsync();
        var chat = OpenAIClients.Chat(http);
        var full = (await chat.CompleteChatAsync(Sdk(Conversation), Sampled(24, 3), TestToken)).Value.Content[0].Text;
        string stop = full.Substring(full.Length / 2, 3);

        var options = Sampled(24, 3);
        options.StopSequences.Add(stop);
        var stopped = (await chat.CompleteChatAsync(Sdk(Conversation), options, TestToken)).Value;
        Assert.Equal(full[..full.IndexOf(stop, StringComparison.Ordinal)], stopped.Content[0].Text);
        Assert.Equal(ChatFinishReason.Stop, stopped.FinishReason);

        var streamed = new List<StreamingChatCompletionUpdate>();
        await foreach (var update in chat.CompleteChatStreamingAsync(Sdk(Conversation), options, TestToken)) streamed.Add(update);
        Assert.Equal(stopped.Content[0].Text, string.Concat(streamed.SelectMany(u => u.ContentUpdate).Select(p => p.Text)));
        Assert.Equal(ChatFinishReason.Stop, streamed.Single(u => u.FinishReason is not null).FinishReason);
    }

    [Fact]
    public async Task A_seed_gives_the_same_reply_again_and_another_seed_another()
    {
        var http = await server.ClientAsync();
        var chat = OpenAIClients.Chat(http);
        async Task<string> Reply(long seed) => (await chat.CompleteChatAsync(Sdk(Conversation), Sampled(20, seed), TestToken)).Value.Content[0].Text;
        string first = await Reply(1234);
        Assert.Equal(first, await Reply(1234));
        Assert.NotEqual(first, await Reply(1235));
    }

    [Fact]
    public async Task A_three_turn_conversation_is_encoded_whole_with_the_chat_template()
    {
        var http = await server.ClientAsync();
        var chat = OpenAIClients.Chat(http);
        var conversation = new List<EngineMessage> { new("system", "Be brief."), new("user", "Hi!") };
        var greedy = new ChatCompletionOptions { MaxOutputTokenCount = 6, Temperature = 0f };
        for (int turn = 1; turn <= 3; turn++)
        {
            var completion = (await chat.CompleteChatAsync(Sdk(conversation), greedy, TestToken)).Value;
            var expected = await OpenAIClients.EngineReplyAsync(server.Factory, conversation, new SamplingOptions { Temperature = 0 }, 6);
            Assert.Equal(OpenAIClients.Reply(expected), completion.Content[0].Text);
            Assert.Equal(PromptTokens(server.Factory, conversation), completion.Usage.InputTokenCount);
            conversation.Add(new("assistant", completion.Content[0].Text));
            conversation.Add(new("user", turn == 1 ? "Tell me more." : "Thanks."));
        }
        Assert.Equal(8, conversation.Count); // system, then three user/assistant pairs, and the next user message
    }

    [Fact]
    public async Task Log_probabilities_come_with_each_token_and_the_most_likely_alternatives()
    {
        var http = await server.ClientAsync();
        var chat = OpenAIClients.Chat(http);
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 8, Temperature = 0f, IncludeLogProbabilities = true, TopLogProbabilityCount = 3 };
        var completion = (await chat.CompleteChatAsync(Sdk(Conversation), options, TestToken)).Value;

        var tokens = completion.ContentTokenLogProbabilities;
        Assert.Equal(8, tokens.Count);
        foreach (var token in tokens)
        {
            Assert.Equal(3, token.TopLogProbabilities.Count);
            Assert.Equal(token.Token, token.TopLogProbabilities[0].Token); // greedy: each pick is the most likely
            Assert.Equal(token.LogProbability, token.TopLogProbabilities[0].LogProbability);
            Assert.True(token.TopLogProbabilities[1].LogProbability <= token.LogProbability);
            Assert.Equal(token.Token, System.Text.Encoding.UTF8.GetString(token.Utf8Bytes!.Value.Span));
        }
        // The tokens spell the reply (whose first token's leading space is dropped).
        Assert.Equal(completion.Content[0].Text, string.Concat(tokens.Select(t => t.Token)).TrimStart(' '));
    }
}

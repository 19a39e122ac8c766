using Microsoft.Extensions.AI;
using EngineMessage = Llama2.Engine.Chat.ChatMessage;

namespace Llama2.Server.Tests.OpenAI;

/// <summary>
/// Microsoft.Extensions.AI's IChatClient over the OpenAI SDK (AsIChatClient) against the server's /v1: what a .NET
/// application written against IChatClient gets from this server.
/// </summary>
public sealed class ChatClientTests(Tiny32kServer server) : IClassFixture<Tiny32kServer>
{
    static readonly EngineMessage[] Conversation = [new("system", "You are a storyteller."), new("user", "Tell me a story about a dog.")];

    static List<ChatMessage> Messages() =>
        [new(ChatRole.System, Conversation[0].Content), new(ChatRole.User, Conversation[1].Content)];

    static ChatOptions Options(int maxTokens) => new() { MaxOutputTokens = maxTokens, Temperature = 0.7f, Seed = 99 };

    [Fact]
    public async Task GetResponseAsync_answers_the_engines_reply()
    {
        var http = await server.ClientAsync();
        using IChatClient client = OpenAIClients.Chat(http).AsIChatClient();
        var response = await client.GetResponseAsync(Messages(), Options(14), TestToken);

        var expected = await OpenAIClients.EngineReplyAsync(server.Factory, Conversation, new SamplingOptions { Temperature = 0.7f, TopP = 1f, Seed = 99 }, 14);
        Assert.Equal(OpenAIClients.Reply(expected), response.Text);
        Assert.Equal(ChatRole.Assistant, Assert.Single(response.Messages).Role);
        Assert.Equal(ChatFinishReason.Length, response.FinishReason);
        Assert.Equal(14, response.Usage?.OutputTokenCount);
        Assert.Equal(expected.PromptTokens, response.Usage?.InputTokenCount);
        Assert.Equal("tiny32k", response.ModelId);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_streams_the_same_reply()
    {
        var http = await server.ClientAsync();
        using IChatClient client = OpenAIClients.Chat(http).AsIChatClient();
        var whole = await client.GetResponseAsync(Messages(), Options(18), TestToken);

        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in client.GetStreamingResponseAsync(Messages(), Options(18), TestToken)) updates.Add(update);
        Assert.True(updates.Count(u => u.Text.Length > 0) >= 2, "the reply came in one piece");
        Assert.Equal(whole.Text, string.Concat(updates.Select(u => u.Text)));

        var combined = updates.ToChatResponse();
        Assert.Equal(whole.Text, combined.Text);
        Assert.Equal(ChatFinishReason.Length, combined.FinishReason);
        Assert.Equal(18, combined.Usage?.OutputTokenCount); // the usage chunk (include_usage)
        Assert.Equal(ChatRole.Assistant, Assert.Single(combined.Messages).Role);
    }
}

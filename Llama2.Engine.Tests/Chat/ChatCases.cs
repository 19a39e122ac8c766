using System.Text.Json.Serialization;

namespace Llama2.Engine.Tests.Chat;

/// <summary>One case of ../shared/golden/chat-cases.json: a run of llama2.c's <c>run -m chat</c> and what it fed and picked.</summary>
public sealed record ChatCase : GoldenRun
{
    [JsonPropertyName("system")] public required string System { get; init; }
    [JsonPropertyName("user")] public required string User { get; init; }
    [JsonPropertyName("rendered_prompt")] public required string RenderedPrompt { get; init; }
    /// <summary>The token fed at each position 0, 1, …: BOS and the rendered prompt, then the reply.</summary>
    [JsonPropertyName("fed_ids")] public required int[] FedIds { get; init; }
    /// <summary>The token run.c picked after each position (during the prompt, picks it threw away).</summary>
    [JsonPropertyName("next_ids")] public required int[] NextIds { get; init; }

    public LlamaModel Load() => LlamaModel.Load(ModelPath, TokenizerPath);
}

public static class ChatCases
{
    static readonly GoldenFile<ChatCase> Data = new("chat-cases.json");

    public static ChatCase Get(string name) => Data.Get(name);

    public static void AssertTheFileHoldsExactlyAll() => Data.AssertHoldsExactly(All);

    /// <summary>Case names for [MemberData], listed here so that test discovery works without ../shared.</summary>
    public static TheoryData<string> All => new("chat-system", "chat-nosystem", "chat-unicode", "chat-whitespace");
}

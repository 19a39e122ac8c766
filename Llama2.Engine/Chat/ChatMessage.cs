namespace Llama2.Engine.Chat;

/// <summary>One message of a conversation: who speaks (<see cref="ChatRole"/>) and what they say.</summary>
public sealed record ChatMessage(string Role, string Content);

/// <summary>The roles a Llama 2 chat conversation knows, spelled as in the OpenAI and Meta APIs.</summary>
public static class ChatRole
{
    public const string System = "system";
    public const string User = "user";
    public const string Assistant = "assistant";
}

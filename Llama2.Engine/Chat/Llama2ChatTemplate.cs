using Llama2.Engine.Tokenization;

namespace Llama2.Engine.Chat;

/// <summary>
/// The Llama 2 chat format, in its two uses:
/// <list type="bullet">
/// <item>A whole conversation as Meta's <c>chat_completion</c> encodes it (<see cref="Encode"/>, for a server that gets
/// the conversation with every request): an optional leading system message is merged into the first user message as
/// <c>&lt;&lt;SYS&gt;&gt;\n{system}\n&lt;&lt;/SYS&gt;&gt;\n\n{user}</c>; each finished (user, assistant) pair becomes
/// BOS + <c>[INST] {user} [/INST] {assistant} </c> + EOS, and the last user message BOS + <c>[INST] {user} [/INST]</c>.
/// As Meta's, each pair's user and assistant text (the first user's with the system block merged in) is stripped of
/// surrounding whitespace, and text is encoded with the dummy-prefix space.</item>
/// <item>One user turn as run.c's chat mode renders it (<see cref="RenderTurn"/>, <see cref="EncodeTurn"/>, for a
/// <see cref="ChatSession"/>): <c>[INST] &lt;&lt;SYS&gt;&gt;\n{system}\n&lt;&lt;/SYS&gt;&gt;\n\n{user} [/INST]</c>
/// with a system prompt (first turn only), else <c>[INST] {user} [/INST]</c>, encoded after BOS, text not stripped.</item>
/// </list>
/// A conversation whose roles are out of order is reported by <see cref="Validate"/> as data (a sentence for a 400
/// response), not thrown; <see cref="Encode"/> throws <see cref="ArgumentException"/> only when called without it.
/// </summary>
public sealed class Llama2ChatTemplate(Tokenizer tokenizer)
{
    const string SystemStart = "<<SYS>>\n", SystemEnd = "\n<</SYS>>\n\n";

    /// <summary>
    /// Says what is wrong with a conversation, in a sentence naming the message (<c>messages[i]</c>), or null when it
    /// can be encoded: roles must be system (optional, first only), then user, assistant, user, …, ending with user.
    /// </summary>
    public static string? Validate(IReadOnlyList<ChatMessage>? messages)
    {
        if (messages is null || messages.Count == 0)
            return "messages is empty: a conversation needs at least one user message";
        for (int i = 0; i < messages.Count; i++)
        {
            var message = messages[i];
            if (message is null) return $"messages[{i}] is null";
            if (message.Role is not (ChatRole.System or ChatRole.User or ChatRole.Assistant))
                return $"messages[{i}] has role '{message.Role}'; the roles are '{ChatRole.System}', '{ChatRole.User}' and '{ChatRole.Assistant}'";
            if (message.Content is null) return $"messages[{i}] ({message.Role}) has no content";
        }

        int first = FirstUserIndex(messages);
        for (int i = first; i < messages.Count; i++)
        {
            string role = messages[i].Role, expected = (i - first) % 2 == 0 ? ChatRole.User : ChatRole.Assistant;
            if (role == expected) continue;
            return role == ChatRole.System
                ? $"messages[{i}] is a system message; only the first message may be one"
                : $"messages[{i}] is from the {role} where the {expected} speaks: after an optional system message, " +
                  "roles alternate user, assistant, user, …";
        }
        if (first == messages.Count) return "the conversation has only a system message; a user message must follow it";
        if (messages[^1].Role != ChatRole.User)
            return $"the last message (messages[{messages.Count - 1}]) is from the {messages[^1].Role}; it must be from the user, for the assistant to answer";
        return null;
    }

    /// <summary>
    /// The prompt token ids of a whole conversation, as Meta's <c>chat_completion</c> (see the class summary): what the
    /// model reads before it writes the assistant's next reply. Throws <see cref="ArgumentException"/> with
    /// <see cref="Validate"/>'s sentence when the roles are out of order.
    /// </summary>
    public int[] Encode(IReadOnlyList<ChatMessage> messages) => EncodeWithin(messages, int.MaxValue).Ids;

    /// <summary>
    /// The conversation's prompt token ids as <see cref="Encode"/> gives them, without its oldest whole turns (a user
    /// message and the assistant's reply) while it is longer than <paramref name="maxTokens"/>: the system message, which
    /// then opens the first turn kept, and the last user message are always kept, so the result may still be longer.
    /// Returns the ids, the number of messages left out (two per turn) and how many tokens shorter than the whole
    /// conversation's the ids are.
    /// </summary>
    public (int[] Ids, int DroppedMessages, int DroppedTokens) EncodeWithin(IReadOnlyList<ChatMessage> messages, int maxTokens)
    {
        if (Validate(messages) is { } problem) throw new ArgumentException(problem, nameof(messages));
        int first = FirstUserIndex(messages);
        string? system = first == 1 ? messages[0].Content : null;
        // Each turn is encoded on its own (BOS … EOS), so a turn's tokens do not depend on the others, except the
        // first one kept, which carries the system block.
        var turns = new List<int>[(messages.Count - first + 1) / 2];
        for (int turn = system is null ? 0 : 1; turn < turns.Length; turn++)
            turns[turn] = EncodeTurnOf(messages, first + 2 * turn, system: null);
        int rest = turns.Skip(1).Sum(t => t.Count); // the turns after the first one kept
        int whole = 0;
        for (int dropped = 0; ; dropped++)
        {
            if (dropped > 0) rest -= turns[dropped].Count;
            var opening = system is null ? turns[dropped] : EncodeTurnOf(messages, first + 2 * dropped, system);
            int length = opening.Count + rest;
            if (dropped == 0) whole = length;
            if (length <= maxTokens || dropped == turns.Length - 1)
                return ([.. opening, .. turns.Skip(dropped + 1).SelectMany(t => t)], 2 * dropped, whole - length);
        }
    }

    /// <summary>
    /// One turn of Meta's encoding: BOS + <c>[INST] {user} [/INST] {assistant} </c> + EOS, or BOS +
    /// <c>[INST] {user} [/INST]</c> for the last user message, with <paramref name="system"/>'s block opening the user
    /// text when given.
    /// </summary>
    List<int> EncodeTurnOf(IReadOnlyList<ChatMessage> messages, int user, string? system)
    {
        string content = system is null ? messages[user].Content : SystemBlock(system) + messages[user].Content;
        string instruction = Instruction(Strip(content));
        return user == messages.Count - 1
            ? tokenizer.Encode(instruction, bos: true, eos: false)
            : tokenizer.Encode($"{instruction} {Strip(messages[user + 1].Content)} ", bos: true, eos: true);
    }

    /// <summary>
    /// run.c's text of one user turn: with a system prompt (non-empty; run.c takes one on the first turn only)
    /// <c>[INST] &lt;&lt;SYS&gt;&gt;\n{system}\n&lt;&lt;/SYS&gt;&gt;\n\n{user} [/INST]</c>, else <c>[INST] {user} [/INST]</c>.
    /// </summary>
    public static string RenderTurn(string user, string? system = null) =>
        Instruction(string.IsNullOrEmpty(system) ? user : SystemBlock(system) + user);

    /// <summary>The tokens run.c feeds for one user turn: BOS and the encoded <see cref="RenderTurn"/> text.</summary>
    public int[] EncodeTurn(string user, string? system = null) =>
        [.. tokenizer.Encode(RenderTurn(user, system), bos: true, eos: false)];

    /// <summary>
    /// How many leading tokens of a conversation's <paramref name="ids"/> (either use's encoding) are BOS and the
    /// system block opening the first turn: what a context shift keeps, so that the system prompt is never dropped.
    /// 1 (BOS) without a system prompt.
    /// </summary>
    public int SystemPrefixLength(ReadOnlySpan<int> ids, string? system)
    {
        if (string.IsNullOrEmpty(system)) return Math.Min(1, ids.Length);
        var prefix = tokenizer.Encode("[INST] " + SystemBlock(system), bos: true, eos: false);
        int same = 0;
        while (same < prefix.Count && same < ids.Length && prefix[same] == ids[same]) same++;
        return same;
    }

    static string Instruction(string content) => $"[INST] {content} [/INST]";

    static string SystemBlock(string system) => SystemStart + system + SystemEnd;

    static int FirstUserIndex(IReadOnlyList<ChatMessage> messages) => messages[0].Role == ChatRole.System ? 1 : 0;

    /// <summary>
    /// Python's <c>str.strip()</c>, as Meta's code calls it: .NET's white space plus the four information separators
    /// U+001C..U+001F, which Python also counts as white space.
    /// </summary>
    static string Strip(string text)
    {
        static bool IsPythonSpace(char c) => char.IsWhiteSpace(c) || c is >= '\x1c' and <= '\x1f';
        int start = 0, end = text.Length;
        while (start < end && IsPythonSpace(text[start])) start++;
        while (end > start && IsPythonSpace(text[end - 1])) end--;
        return text[start..end];
    }
}

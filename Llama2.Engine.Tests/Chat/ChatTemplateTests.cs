namespace Llama2.Engine.Tests.Chat;

/// <summary>The Llama 2 chat template on a byte-level tokenizer the tests write (no ../shared needed).</summary>
public sealed class ChatTemplateTests : IDisposable
{
    const int Bos = Tokenizer.Bos, Eos = Tokenizer.Eos;
    readonly TempDirectory _dir = new();
    readonly Tokenizer _tokenizer;
    readonly Llama2ChatTemplate _template;

    public ChatTemplateTests()
    {
        TestModels.WriteByteTokenizer(_dir.File("tokenizer.bin"), 300);
        _tokenizer = Tokenizer.Load(_dir.File("tokenizer.bin"));
        _template = new Llama2ChatTemplate(_tokenizer);
    }

    public void Dispose() => _dir.Dispose();

    static ChatMessage System(string text) => new(ChatRole.System, text);
    static ChatMessage User(string text) => new(ChatRole.User, text);
    static ChatMessage Assistant(string text) => new(ChatRole.Assistant, text);

    /// <summary>
    /// The prompt cut into its sequences, each opening with BOS: the text of each (decoded, so its dummy-prefix space
    /// is gone again) and whether it ends with EOS. Fails if BOS or EOS appears anywhere else.
    /// </summary>
    List<(string Text, bool EndsWithEos)> Sequences(int[] ids)
    {
        var sequences = new List<(string, bool)>();
        for (int start = 0; start < ids.Length;)
        {
            Assert.Equal(Bos, ids[start]);
            int end = start + 1;
            while (end < ids.Length && ids[end] != Bos) end++;
            bool eos = ids[end - 1] == Eos;
            var body = ids[(start + 1)..(eos ? end - 1 : end)];
            Assert.DoesNotContain(Eos, body);
            sequences.Add((_tokenizer.DecodeAll(body), eos));
            start = end;
        }
        return sequences;
    }

    [Fact]
    public void A_single_user_message_is_one_instruction_after_BOS()
    {
        var ids = _template.Encode([User("Hi there")]);
        Assert.Equal([("[INST] Hi there [/INST]", false)], Sequences(ids));
        Assert.Equal(_template.EncodeTurn("Hi there"), ids); // Meta's and run.c's first turn agree when nothing is stripped
    }

    [Fact]
    public void A_system_message_is_merged_into_the_first_user_message()
    {
        var ids = _template.Encode([System("Be brief."), User("Hi")]);
        Assert.Equal([("[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST]", false)], Sequences(ids));
        Assert.Equal(_template.EncodeTurn("Hi", "Be brief."), ids);
    }

    [Fact]
    public void Each_finished_exchange_is_its_own_sequence_ending_with_EOS_and_the_last_user_message_opens_the_reply()
    {
        var ids = _template.Encode([
            System("Be brief."), User("Hi"), Assistant("Hello!"), User("Name a fruit."), Assistant("A pear."), User("Another?"),
        ]);
        Assert.Equal(
        [
            ("[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! ", true),
            ("[INST] Name a fruit. [/INST] A pear. ", true),
            ("[INST] Another? [/INST]", false),
        ], Sequences(ids));
        Assert.Equal(3, ids.Count(id => id == Bos));
        Assert.Equal(2, ids.Count(id => id == Eos));
        Assert.NotEqual(Eos, ids[^1]);
    }

    [Fact]
    public void Without_a_system_message_the_first_exchange_has_no_system_block()
    {
        var ids = _template.Encode([User("a"), Assistant("b"), User("ab")]);
        Assert.Equal([("[INST] a [/INST] b ", true), ("[INST] ab [/INST]", false)], Sequences(ids));
    }

    [Fact]
    public void Messages_are_stripped_as_Meta_strips_them()
    {
        // Meta strips the first user message after the system block is merged in: the system text keeps its spaces,
        // and so does the start of that user message. Python's strip also takes U+001C..U+001F.
        var ids = _template.Encode([
            System("  padded system  "), User("  Hi \n"), Assistant(" \tHello! \u00a0"), User("\u001f Bye\u3000"),
        ]);
        Assert.Equal(
        [
            ("[INST] <<SYS>>\n  padded system  \n<</SYS>>\n\n  Hi [/INST] Hello! ", true),
            ("[INST] Bye [/INST]", false),
        ], Sequences(ids));
    }

    [Fact]
    public void An_empty_system_message_still_gives_a_system_block_as_Meta_but_not_in_runc_turns()
    {
        Assert.Equal([("[INST] <<SYS>>\n\n<</SYS>>\n\nHi [/INST]", false)], Sequences(_template.Encode([System(""), User("Hi")])));
        Assert.Equal("[INST] Hi [/INST]", Llama2ChatTemplate.RenderTurn("Hi", ""));
        Assert.Equal("[INST] Hi [/INST]", Llama2ChatTemplate.RenderTurn("Hi", null));
    }

    [Fact]
    public void A_runc_turn_is_not_stripped_and_is_encoded_after_BOS()
    {
        Assert.Equal("[INST] <<SYS>>\n  sys \n<</SYS>>\n\n  two  spaces\n [/INST]", Llama2ChatTemplate.RenderTurn("  two  spaces\n", "  sys "));
        var ids = _template.EncodeTurn(" later turn ");
        Assert.Equal([("[INST]  later turn  [/INST]", false)], Sequences(ids));
    }

    public static TheoryData<string, ChatMessage[], string> OutOfOrder => new()
    {
        { "empty list", [], "messages is empty" },
        { "assistant first", [Assistant("Hello")], "messages[0] is from the assistant where the user speaks" },
        { "assistant right after the system message", [System("s"), Assistant("Hello"), User("Hi")], "messages[1] is from the assistant where the user speaks" },
        { "two users in a row", [User("Hi"), User("Hi again")], "messages[1] is from the user where the assistant speaks" },
        { "two assistants in a row", [User("Hi"), Assistant("a"), Assistant("b"), User("c")], "messages[2] is from the assistant where the user speaks" },
        { "system not first", [User("Hi"), System("s"), User("Hi")], "messages[1] is a system message; only the first message may be one" },
        { "two system messages", [System("s"), System("t"), User("Hi")], "messages[1] is a system message" },
        { "ending with the assistant", [User("Hi"), Assistant("Hello")], "the last message (messages[1]) is from the assistant; it must be from the user" },
        { "only a system message", [System("s")], "only a system message" },
        { "unknown role", [User("Hi"), new ChatMessage("tool", "42"), User("ok")], "messages[1] has role 'tool'; the roles are 'system', 'user' and 'assistant'" },
        { "role in capitals", [new ChatMessage("User", "Hi")], "messages[0] has role 'User'" },
        { "no content", [User(null!)], "messages[0] (user) has no content" },
    };

    [Theory]
    [MemberData(nameof(OutOfOrder))]
    public void Conversations_out_of_order_are_refused_with_a_clear_sentence(string what, ChatMessage[] messages, string problem)
    {
        var found = Llama2ChatTemplate.Validate(messages);
        Assert.True(found is not null, $"{what}: not refused");
        Assert.Contains(problem, found, StringComparison.Ordinal);
        var e = Assert.Throws<ArgumentException>(() => _template.Encode(messages));
        Assert.StartsWith(found, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Conversations_in_order_are_valid()
    {
        Assert.Null(Llama2ChatTemplate.Validate([User("Hi")]));
        Assert.Null(Llama2ChatTemplate.Validate([System("s"), User("Hi")]));
        Assert.Null(Llama2ChatTemplate.Validate([User("Hi"), Assistant("Hello"), User("Bye")]));
        Assert.Null(Llama2ChatTemplate.Validate([System("s"), User("Hi"), Assistant(""), User("")]));
    }

    [Fact]
    public void A_missing_list_is_refused_like_an_empty_one()
    {
        Assert.Equal(Llama2ChatTemplate.Validate([]), Llama2ChatTemplate.Validate(null));
    }

    [Fact]
    public void Encoding_within_a_length_leaves_out_the_oldest_whole_turns_and_keeps_the_system_prompt()
    {
        ChatMessage[] conversation =
        [
            System("Be brief."), User("first question"), Assistant("first answer"), User("second question"),
            Assistant("second answer"), User("third question"),
        ];
        var whole = _template.Encode(conversation);
        var (ids, dropped, droppedTokens) = _template.EncodeWithin(conversation, whole.Length);
        Assert.Equal((0, 0), (dropped, droppedTokens));
        Assert.Equal(whole, ids);

        // One token less than the whole: the first turn goes, and the system prompt opens the second.
        (ids, dropped, droppedTokens) = _template.EncodeWithin(conversation, whole.Length - 1);
        Assert.Equal((2, whole.Length - ids.Length), (dropped, droppedTokens));
        Assert.Equal(_template.Encode([conversation[0], .. conversation[3..]]), ids);
        Assert.Equal(("[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nsecond question [/INST] second answer ", true), Sequences(ids)[0]);

        // Nothing fits: the system prompt and the last user message are all that is left, longer than asked.
        (ids, dropped, droppedTokens) = _template.EncodeWithin(conversation, 1);
        Assert.Equal((4, whole.Length - ids.Length), (dropped, droppedTokens));
        Assert.Equal(_template.Encode([conversation[0], conversation[^1]]), ids);

        // Without a system message, the turns after the dropped ones are as they were.
        (ids, dropped, _) = _template.EncodeWithin(conversation[1..], _template.Encode(conversation[3..]).Length);
        Assert.Equal(2, dropped);
        Assert.Equal(_template.Encode(conversation[3..]), ids);
    }

    [Fact]
    public void The_system_prefix_is_BOS_and_the_system_block()
    {
        var ids = _template.Encode([System("Be brief."), User("Hi")]);
        int keep = _template.SystemPrefixLength(ids, "Be brief.");
        Assert.Equal("[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\n", _tokenizer.DecodeAll(ids[1..keep]));
        Assert.Equal(keep, _template.SystemPrefixLength(_template.EncodeTurn("Hi", "Be brief."), "Be brief."));
        Assert.Equal(1, _template.SystemPrefixLength(ids, null));
    }
}

namespace Llama2.Engine.Tests.Chat;

/// <summary>Chat sessions on small models the tests write, some of which end their replies with EOS.</summary>
public sealed class ChatSessionTests : IDisposable
{
    const int Bos = Tokenizer.Bos, Eos = Tokenizer.Eos;
    static readonly SamplingOptions Greedy = new() { Temperature = 0 };
    static readonly SamplingOptions Sampled = new() { Temperature = 1f, TopP = 0.9f, Seed = 42 };
    static readonly string[] Script = ["hi there", "tell me more", "a b ab", "why?", "ok", "bye", "x", "y"];
    readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    static List<GeneratedToken> Reply(ChatSession session) => Generations.ToEnd(session.Next);

    [Fact]
    public void After_EOS_the_EOS_is_fed_and_the_next_turn_opens_with_BOS_and_INST_at_the_next_position()
    {
        using var model = BiasedModel.Load(_dir, Eos, weight: 2f); // greedy, every reply is EOS at once
        var template = new Llama2ChatTemplate(model.Tokenizer);
        var session = new ChatSession(model, Greedy);
        var first = template.EncodeTurn("hi", "be nice");
        var second = template.EncodeTurn("and now?");

        Assert.True(session.StartTurn("hi", "be nice"));
        Assert.Equal(ChatSessionStatus.Replying, session.Status);
        var reply = Assert.Single(Reply(session));
        Assert.Equal((Eos, "", FinishReason.EosToken, true), (reply.Id, reply.Text, reply.Finish, reply.Special));
        Assert.Equal(ChatSessionStatus.AwaitingUser, session.Status);
        Assert.Equal(first.Length, session.Position); // the EOS is not fed yet
        Assert.Equal([.. first, Eos], session.Tokens.ToArray());

        Assert.True(session.StartTurn("and now?"));
        reply = Assert.Single(Reply(session));
        Assert.Equal(Eos, reply.Id);
        Assert.Equal(second.Length, reply.Summary!.PromptTokens);
        Assert.Equal(first.Length + 1 + second.Length, session.Position);
        Assert.Equal([.. first, Eos, .. second, Eos], session.Tokens.ToArray());
        Assert.Equal(Bos, session.Tokens[first.Length + 1]);
        Assert.Equal("[INST] and now? [/INST]", model.Tokenizer.DecodeAll(second.Skip(1)));
        Assert.Equal(2, session.Turns);
    }

    [Fact]
    public void A_sampled_conversation_is_runc_chat_loop_token_for_token()
    {
        using var model = BiasedModel.Load(_dir, Eos, weight: 0.9f); // replies of a few tokens, then EOS
        const int Positions = 200;
        var expected = RunCChatLoop(model, Sampled, Positions, "be nice", Script);

        var session = new ChatSession(model, Sampled, Positions);
        var replies = new List<int[]>();
        for (int turn = 0; turn < Script.Length && session.StartTurn(Script[turn], turn == 0 ? "be nice" : null); turn++)
            replies.Add(Reply(session).Select(t => t.Id).ToArray());

        Assert.True(replies.Count >= 3 && replies[0][^1] == Eos && replies[1][^1] == Eos,
            "the model should end its first replies with EOS, for later turns to be tested");
        Assert.Equal(expected.Replies, replies);
        Assert.Equal(expected.Tokens, session.Tokens.ToArray());
        // Each EOS ending a reply is followed by the next turn: BOS and [INST] … [/INST].
        var tokens = session.Tokens.ToArray();
        var template = new Llama2ChatTemplate(model.Tokenizer);
        int at = Array.IndexOf(tokens, Eos);
        for (int turn = 1; turn < replies.Count; turn++, at = Array.IndexOf(tokens, Eos, at + 1))
        {
            var prompt = template.EncodeTurn(Script[turn]);
            Assert.Equal(prompt, tokens.Skip(at + 1).Take(prompt.Length));
        }
    }

    /// <summary>
    /// run.c's <c>chat()</c> loop as it is written, with scripted user messages: one forward pass of one token and one
    /// sample at every position, prompt tokens forced; EOS ends a reply and is fed before the next turn's prompt. Returns
    /// every token fed (with the last pick when the steps ran out) and each reply's picks, EOS included.
    /// </summary>
    static (int[] Tokens, List<int[]> Replies) RunCChatLoop(LlamaModel model, SamplingOptions sampling, int steps,
        string system, string[] users)
    {
        var template = new Llama2ChatTemplate(model.Tokenizer);
        var state = model.Transformer.CreateState(steps);
        var sampler = new Sampler(model.Config.VocabSize, sampling);
        var fed = new List<int>();
        var replies = new List<List<int>>();
        int[] prompt = [];
        int userIndex = 0, next = 0, turn = 0;
        bool userTurn = true;
        for (int pos = 0; pos < steps; pos++)
        {
            if (userTurn)
            {
                if (turn == users.Length) return ([.. fed], replies.Select(r => r.ToArray()).ToList());
                prompt = template.EncodeTurn(users[turn], pos == 0 ? system : null);
                turn++;
                replies.Add([]);
                userIndex = 0;
                userTurn = false;
            }
            int token = userIndex < prompt.Length ? prompt[userIndex++] : next;
            if (token == Eos) userTurn = true;
            next = sampler.Sample(model.Transformer.Forward(token, pos, state), [], out _);
            fed.Add(token);
            if (userIndex >= prompt.Length && token != Eos) replies[^1].Add(next);
        }
        return ([.. fed, next], replies.Select(r => r.ToArray()).ToList());
    }

    [Fact]
    public void A_reply_that_outgrows_the_positions_ends_the_session()
    {
        using var model = BiasedModel.Load(_dir, Eos, weight: 0f); // never ends a reply
        var session = new ChatSession(model, Greedy, positions: 40);
        int prompt = new Llama2ChatTemplate(model.Tokenizer).EncodeTurn("hi").Length;
        Assert.True(session.StartTurn("hi"));
        var reply = Reply(session);
        Assert.Equal(40 - prompt + 1, reply.Count); // as run.c: the pick after the last position is shown, not fed
        Assert.All(reply.SkipLast(1), t => Assert.Null(t.Finish));
        Assert.Equal(FinishReason.ContextFull, reply[^1].Finish);
        Assert.Equal(ChatSessionStatus.ContextFull, session.Status);
        Assert.Equal(40, session.Position);
        Assert.Null(session.Next());
        Assert.False(session.StartTurn("more"));
        Assert.Equal(model.Tokenizer.DecodeAll(reply.Select(t => t.Id), previous: session.Tokens[prompt - 1]),
            string.Concat(reply.Select(t => t.Text)));
    }

    [Fact]
    public void A_turn_that_does_not_fit_ends_the_session_and_feeds_nothing()
    {
        using var model = BiasedModel.Load(_dir, Eos, weight: 2f);
        var session = new ChatSession(model, Greedy, positions: 60);
        Assert.True(session.StartTurn("hi"));
        Reply(session);
        Assert.Equal(ChatSessionStatus.AwaitingUser, session.Status);
        var before = session.Tokens.ToArray();

        Assert.False(session.StartTurn(new string('x', 60)));
        Assert.Equal(ChatSessionStatus.ContextFull, session.Status);
        Assert.Equal(before, session.Tokens.ToArray());
        Assert.Equal(before.Length - 1, session.Position);
        Assert.Null(session.Next());
        Assert.False(session.StartTurn("x"));
    }

    [Fact]
    public void A_first_turn_that_does_not_fit_is_refused_the_same_way()
    {
        using var model = BiasedModel.Load(_dir, Eos, weight: 2f);
        var session = new ChatSession(model, Greedy, positions: 10);
        Assert.False(session.StartTurn("a message longer than ten positions"));
        Assert.Equal(ChatSessionStatus.ContextFull, session.Status);
        Assert.Equal(0, session.Position);
        Assert.True(session.Tokens.IsEmpty);
    }

    [Theory]
    [InlineData(0, ChatSessionStatus.ContextFull)] // EOS picked at the last position: nowhere to feed it
    [InlineData(1, ChatSessionStatus.ContextFull)] // EOS fed at the last position: run.c does not ask the user again
    [InlineData(2, ChatSessionStatus.AwaitingUser)]
    public void After_an_EOS_near_the_end_the_user_is_asked_again_only_if_a_position_is_left(int spare, ChatSessionStatus expected)
    {
        using var model = BiasedModel.Load(_dir, Eos, weight: 2f);
        int prompt = new Llama2ChatTemplate(model.Tokenizer).EncodeTurn("hi").Length;
        var session = new ChatSession(model, Greedy, positions: prompt + spare);
        Assert.True(session.StartTurn("hi"));
        Assert.Equal(FinishReason.EosToken, Assert.Single(Reply(session)).Finish);
        Assert.Equal(expected, session.Status);
    }

    [Fact]
    public void BOS_does_not_end_a_reply_as_in_runc_chat_loop()
    {
        using var model = BiasedModel.Load(_dir, Bos, weight: 2f); // greedy, every pick is BOS
        var session = new ChatSession(model, Greedy, positions: 30);
        Assert.True(session.StartTurn("hi"));
        var reply = Reply(session);
        int prompt = session.Tokens.Length - reply.Count;
        Assert.Equal(30 - prompt + 1, reply.Count);
        Assert.All(reply, t => Assert.Equal(Bos, t.Id));
        Assert.Equal(FinishReason.ContextFull, reply[^1].Finish);
    }

    [Fact]
    public void With_a_context_shift_a_conversation_outgrows_the_context_and_keeps_its_system_prompt()
    {
        using var model = BiasedModel.Load(_dir, Eos, weight: 0.9f); // replies of a few tokens, then EOS
        int seqLen = model.Config.SeqLen;
        var template = new Llama2ChatTemplate(model.Tokenizer);
        var firstTurn = template.EncodeTurn(Script[0], "be nice");
        int keep = template.SystemPrefixLength(firstTurn, "be nice");
        Assert.Equal("[INST] <<SYS>>\nbe nice\n<</SYS>>\n\n", model.Tokenizer.DecodeAll(firstTurn.Skip(1).Take(keep - 1)));
        var session = new ChatSession(model, Sampled, positions: 100_000, contextShift: true);
        var unshifted = new ChatSession(model, Sampled); // the same conversation without a shift, until its context is full
        int alike = 0, shifts = 0;
        var script = Enumerable.Repeat(Script, 4).SelectMany(s => s).ToArray();
        for (int turn = 0; turn < script.Length; turn++)
        {
            string? system = turn == 0 ? "be nice" : null;
            Assert.True(session.StartTurn(script[turn], system), $"turn {turn} refused");
            var reply = Reply(session);
            Assert.Equal(FinishReason.EosToken, reply[^1].Finish);
            shifts += reply[^1].Summary!.ContextShifts;
            Assert.Equal(firstTurn[..keep], session.Tokens[..keep].ToArray()); // BOS and the system prompt stay first
            Assert.True(session.Tokens.Length <= seqLen + 1);

            if (unshifted.Status == ChatSessionStatus.AwaitingUser && unshifted.StartTurn(script[turn], system)
                && Reply(unshifted) is [.., { Finish: FinishReason.EosToken }] before)
            {
                Assert.Equal(before.Select(t => t.Id), reply.Select(t => t.Id)); // nothing changes before the first shift
                alike++;
            }
        }
        Assert.True(alike >= 3, $"only {alike} replies before the first shift");
        Assert.True(shifts >= 2 && session.PositionsUsed > 2 * seqLen, $"{shifts} shifts in {session.PositionsUsed} positions");
        Assert.Equal(ChatSessionStatus.AwaitingUser, session.Status);
    }

    [Fact]
    public void Misuse_is_refused()
    {
        using var model = BiasedModel.Load(_dir, Eos, weight: 0f);
        Assert.Throws<ArgumentOutOfRangeException>(() => new ChatSession(model, Greedy, positions: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ChatSession(model, Greedy, positions: model.Config.SeqLen + 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ChatSession(model, Greedy, positions: 0, contextShift: true));
        Assert.Throws<ArgumentException>(() => new ChatSession(model, new SamplingOptions { Temperature = -1 }));

        var session = new ChatSession(model, Greedy, positions: 64);
        Assert.True(session.StartTurn("hi", "be nice"));
        Assert.NotNull(session.Next());
        var e = Assert.Throws<InvalidOperationException>(() => session.StartTurn("interrupting"));
        Assert.Contains("still replying", e.Message);
    }

    [Fact]
    public void A_system_prompt_opens_the_conversation_only()
    {
        using var model = BiasedModel.Load(_dir, Eos, weight: 2f);
        var session = new ChatSession(model, Greedy);
        Assert.True(session.StartTurn("hi"));
        Reply(session);
        var e = Assert.Throws<ArgumentException>(() => session.StartTurn("hi", "too late"));
        Assert.Contains("opens the conversation", e.Message);
        Assert.Equal(ChatSessionStatus.AwaitingUser, session.Status);
        Assert.True(session.StartTurn("hi", ""));
    }
}

namespace Llama2.Engine.Tests.Chat;

/// <summary>
/// The chat session against llama2.c's <c>run -m chat</c> (../shared/golden/chat-cases.json, see its README): one user
/// turn, greedy, until the step limit.
/// </summary>
public sealed class ChatGoldenTests
{
    [Fact]
    public void The_golden_file_holds_exactly_the_cases_these_tests_run() => ChatCases.AssertTheFileHoldsExactlyAll();

    [Theory]
    [MemberData(nameof(ChatCases.All), MemberType = typeof(ChatCases))]
    public void Turn_is_rendered_as_runc_renders_it(string name)
    {
        var golden = ChatCases.Get(name);
        Assert.Equal(golden.RenderedPrompt, Llama2ChatTemplate.RenderTurn(golden.User, golden.System));
    }

    [Theory]
    [MemberData(nameof(ChatCases.All), MemberType = typeof(ChatCases))]
    public void Meta_encoding_of_the_one_turn_conversation_is_runc_prompt_unless_it_strips_whitespace(string name)
    {
        var golden = ChatCases.Get(name);
        var tokenizer = Tokenizer.Load(SharedData.Require("models/" + golden.Tokenizer));
        var template = new Llama2ChatTemplate(tokenizer);
        var runc = template.EncodeTurn(golden.User, golden.System);
        Assert.Equal(golden.FedIds[..runc.Length], runc);

        ChatMessage[] conversation = golden.System == ""
            ? [new(ChatRole.User, golden.User)]
            : [new(ChatRole.System, golden.System), new(ChatRole.User, golden.User)];
        var meta = template.Encode(conversation);
        if (name == "chat-whitespace")
        {
            // Meta strips the merged first message: only the end of the user text goes.
            Assert.Equal(tokenizer.Encode("[INST] <<SYS>>\n  padded system  \n<</SYS>>\n\n  two  spaces\nand a newline [/INST]", bos: true, eos: false), meta);
            Assert.NotEqual(runc, meta);
        }
        else Assert.Equal(runc, meta);
    }

    [Theory]
    [MemberData(nameof(ChatCases.All), MemberType = typeof(ChatCases))]
    public void Session_feeds_runc_fed_ids_and_replies_with_runc_next_ids(string name)
    {
        var golden = ChatCases.Get(name);
        using var model = golden.Load();
        var session = new ChatSession(model, new SamplingOptions { Temperature = golden.Temperature }, golden.Steps);

        Assert.True(session.StartTurn(golden.User, golden.System));
        var reply = new List<GeneratedToken>();
        while (session.Next() is { } token) reply.Add(token);

        // The prompt is what run.c fed before its first printed pick; the reply is the rest of its picks.
        int prompt = golden.FedIds.Length - reply.Count + 1;
        var tokens = session.Tokens.ToArray();
        Assert.Equal(golden.FedIds, tokens[..golden.Steps]);
        Assert.Equal(golden.NextIds[(prompt - 1)..], reply.Select(t => t.Id));
        Assert.Equal(golden.Steps, session.Position);
        Assert.Equal(ChatSessionStatus.ContextFull, session.Status);
        Assert.Equal(FinishReason.ContextFull, reply[^1].Finish);
        Assert.Equal(prompt, reply[^1].Summary!.PromptTokens);
        // The streamed text is the reply decoded whole (run.c prints the same pieces, less the bytes of split characters).
        Assert.Equal(model.Tokenizer.DecodeAll(reply.Select(t => t.Id), previous: golden.FedIds[prompt - 1]),
            string.Concat(reply.Select(t => t.Text)));
    }

    [Theory]
    [MemberData(nameof(ChatCases.All), MemberType = typeof(ChatCases))]
    public void Fed_one_by_one_the_model_picks_runc_next_ids_at_every_position(string name)
    {
        // run.c samples after every prompt token too and throws those picks away; the session feeds the prompt in one
        // pass, so this checks the picks at the prompt positions (and all others) one position at a time.
        var golden = ChatCases.Get(name);
        using var checkpoint = Checkpoint.Open(SharedData.Require("models/" + golden.Model));
        var transformer = new Inference.Transformer(checkpoint);
        var state = transformer.CreateState(golden.Steps);
        var picks = new int[golden.Steps];
        for (int pos = 0; pos < golden.Steps; pos++)
            picks[pos] = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(transformer.Forward(golden.FedIds[pos], pos, state));
        Assert.Equal(golden.NextIds, picks);
    }
}

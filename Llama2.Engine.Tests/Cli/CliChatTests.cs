using Llama2.Engine.Tests.Chat;
using static Llama2.Engine.Tests.Cli.CliTests;

namespace Llama2.Engine.Tests.Cli;

/// <summary>
/// <c>-m chat</c>, run as a user would: against llama2.c's <c>run -m chat</c> (../shared/golden/chat-cases.json), and on
/// small models the tests write, some of which end their replies with EOS, with the user's lines on stdin.
/// </summary>
public sealed class CliChatTests : IDisposable
{
    const string SystemQuestion = "Enter system prompt (optional): ", UserQuestion = "User: ", Answer = "Assistant: ";
    readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    static string[] Chat(string checkpoint, string tokenizer, params string[] flags) =>
        [checkpoint, "-z", tokenizer, "-m", "chat", .. flags];

    static string[] GoldenChat(ChatCase golden, params string[] flags) =>
        Chat(SharedData.Require("models/" + golden.Model), SharedData.Require("models/" + golden.Tokenizer),
            ["-t", "0", "-n", golden.Steps.ToString(), .. flags]);

    /// <summary>
    /// The text of run.c's reply (its picks after the prompt), decoded in whole UTF-8 characters as the engine's chat
    /// session streams it: run.c's own stdout drops the bytes of characters split over tokens.
    /// </summary>
    static string GoldenReply(ChatCase golden)
    {
        var tokenizer = Tokenizer.Load(SharedData.Require("models/" + golden.Tokenizer));
        int prompt = new Llama2ChatTemplate(tokenizer).EncodeTurn(golden.User, golden.System).Length;
        return tokenizer.DecodeAll(golden.NextIds[(prompt - 1)..], previous: golden.FedIds[prompt - 1]);
    }

    [Theory]
    [MemberData(nameof(ChatCases.All), MemberType = typeof(ChatCases))]
    public void With_y_and_i_and_stdin_closed_it_prints_runc_reply_and_says_the_positions_ran_out(string name)
    {
        var golden = ChatCases.Get(name);
        var (exit, stdout, stderr) = RunCli(GoldenChat(golden, "-y", golden.System, "-i", golden.User));

        Assert.True(exit == 0, stderr);
        Assert.Equal(Answer + GoldenReply(golden) + "\n", stdout);
        Assert.Contains($"the conversation reached its {golden.Steps} positions (-n {golden.Steps}); " +
                        "start a new one with a larger -n (at most 128, the model's context)", stderr);
        Assert.Matches(@"achieved tok/s: \d+\.\d+", stderr);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void System_prompt_and_first_message_come_from_stdin_after_runc_questions_when_not_given(bool systemOnStdin)
    {
        var golden = ChatCases.Get("chat-system");
        var (exit, stdout, stderr) = systemOnStdin
            ? RunCliWithInput($"{golden.System}\n{golden.User}\n", GoldenChat(golden))
            : RunCliWithInput($"{golden.User}\n", GoldenChat(golden, "-y", golden.System));

        Assert.True(exit == 0, stderr);
        Assert.Equal((systemOnStdin ? SystemQuestion : "") + UserQuestion + Answer + GoldenReply(golden) + "\n", stdout);
    }

    [Theory]
    [InlineData(new string[0], SystemQuestion + "\n")]
    [InlineData(new[] { "-y", "be nice" }, UserQuestion + "\n")]
    [InlineData(new[] { "-y", "" }, UserQuestion + "\n")]
    public void End_of_input_at_a_question_ends_the_line_and_the_session_with_exit_0(string[] flags, string expected)
    {
        var (checkpoint, tokenizer) = TestModels.WriteSmallModel(_dir);
        var (exit, stdout, stderr) = RunCli(Chat(checkpoint, tokenizer, flags));

        Assert.Equal(0, exit);
        Assert.Equal(expected, stdout);
        Assert.Equal("", stderr); // nothing generated: no speed, no error
    }

    [Fact]
    public void Later_turns_come_from_stdin_each_reply_after_its_user_line_until_end_of_input()
    {
        var (checkpoint, tokenizer) = BiasedModel.Write(_dir, Tokenizer.Eos, weight: 0.9f); // replies of a few tokens, then EOS
        string[] users = ["hi there", "tell me more", "a b ab"];
        var sampling = new SamplingOptions { Temperature = 1f, TopP = 0.9f, Seed = 42 };

        // The engine's session, fed the same lines, gives the replies the CLI must print.
        var replies = new List<string>();
        using (var model = LlamaModel.Load(checkpoint, tokenizer))
        {
            var session = new ChatSession(model, sampling, positions: 200);
            foreach (var user in users)
            {
                Assert.True(session.StartTurn(user, replies.Count == 0 ? "be nice" : null));
                var reply = new List<GeneratedToken>();
                while (session.Next() is { } token) reply.Add(token);
                Assert.Equal(FinishReason.EosToken, reply[^1].Finish);
                replies.Add(string.Concat(reply.Select(t => t.Text)));
            }
        }
        Assert.True(replies[1] != "", "the second reply should have text, to be seen after the second 'User: '");

        var (exit, stdout, stderr) = RunCliWithInput($"{users[1]}\n{users[2]}\n",
            Chat(checkpoint, tokenizer, "-t", "1", "-p", "0.9", "-s", "42", "-n", "200", "-y", "be nice", "-i", users[0]));

        Assert.True(exit == 0, stderr);
        // run.c's layout: the first answer at once (-i), then a "User: " question before each later answer; the line
        // ends at each EOS, and at the end of input.
        Assert.Equal([Answer + replies[0] + "\n", Answer + replies[1] + "\n", Answer + replies[2] + "\n", "\n"],
            stdout.Split(UserQuestion));
        Assert.DoesNotContain("positions", stderr);
        Assert.Matches(@"^achieved tok/s: \d+\.\d+\n$", stderr.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void A_reply_that_fills_the_model_context_ends_the_session_saying_so()
    {
        var (checkpoint, tokenizer) = BiasedModel.Write(_dir, Tokenizer.Eos, weight: 0f); // never ends a reply
        var (exit, stdout, stderr) = RunCli(Chat(checkpoint, tokenizer, "-t", "0", "-n", "0", "-y", "", "-i", "hi"));

        Assert.True(exit == 0, stderr);
        Assert.StartsWith(Answer, stdout);
        Assert.EndsWith("\n", stdout);
        Assert.DoesNotContain(UserQuestion, stdout);
        Assert.Contains("the conversation reached its 256 positions (the model's context); start a new one", stderr);
    }

    [Fact]
    public void With_context_shift_a_reply_goes_on_past_the_model_context_to_the_positions_asked_for()
    {
        var (checkpoint, tokenizer) = BiasedModel.Write(_dir, Tokenizer.Eos, weight: 0f); // never ends a reply
        string expected;
        using (var model = LlamaModel.Load(checkpoint, tokenizer))
        {
            var session = new ChatSession(model, new SamplingOptions { Temperature = 0 }, positions: 600, contextShift: true);
            Assert.True(session.StartTurn("hi"));
            var reply = new List<GeneratedToken>();
            while (session.Next() is { } token) reply.Add(token);
            Assert.Equal(FinishReason.ContextFull, reply[^1].Finish);
            Assert.True(reply.Count > 256);
            expected = string.Concat(reply.Select(t => t.Text));
        }

        var (exit, stdout, stderr) = RunCli(Chat(checkpoint, tokenizer, "-t", "0", "-n", "600", "--context-shift", "-y", "", "-i", "hi"));
        Assert.True(exit == 0, stderr);
        Assert.Equal(Answer + expected + "\n", stdout);
        Assert.Contains("the conversation reached its 600 positions (-n 600); start a new one with a larger -n", stderr);
        Assert.Contains("context shifted", stderr);
    }

    [Fact]
    public void A_turn_that_does_not_fit_in_the_positions_left_ends_the_session_saying_how_far_it_is_over()
    {
        var (checkpoint, tokenizer) = BiasedModel.Write(_dir, Tokenizer.Eos, weight: 2f); // every reply is EOS at once
        const string Second = "now tell me a much longer story, please";
        int first, second;
        using (var model = LlamaModel.Load(checkpoint, tokenizer))
        {
            var template = new Llama2ChatTemplate(model.Tokenizer);
            first = template.EncodeTurn("hi").Length;
            second = template.EncodeTurn(Second).Length;
        }
        int left = 40 - first - 1; // the first turn and the EOS that ended its reply
        Assert.True(left > 0 && second > left);

        var (exit, stdout, stderr) = RunCliWithInput(Second + "\nnever read\n",
            Chat(checkpoint, tokenizer, "-t", "0", "-n", "40", "-y", "", "-i", "hi"));

        Assert.True(exit == 0, stderr);
        Assert.Equal(Answer + "\n" + UserQuestion + Answer + "\n", stdout); // run.c's lines, with nothing fed
        Assert.Contains($"the message is {second} tokens in the chat template, more than the {left} positions left of the conversation's 40 " +
                        "(-n 40); start a new one with a larger -n (at most 256, the model's context)", stderr);
    }

    [Fact]
    public void A_reply_ended_by_EOS_with_no_position_left_for_another_turn_ends_the_session_as_runc()
    {
        var (checkpoint, tokenizer) = BiasedModel.Write(_dir, Tokenizer.Eos, weight: 2f); // every reply is EOS at once
        int first;
        using (var model = LlamaModel.Load(checkpoint, tokenizer))
            first = new Llama2ChatTemplate(model.Tokenizer).EncodeTurn("hi").Length;
        int steps = first + 1; // room for the turn and the EOS that ends its reply, not for the next turn

        var (exit, stdout, stderr) = RunCliWithInput("never read\n",
            Chat(checkpoint, tokenizer, "-t", "0", "-n", steps.ToString(), "-y", "", "-i", "hi"));

        Assert.True(exit == 0, stderr);
        // run.c ends the line at the EOS and again when its positions run out (between the two it prints one more token).
        Assert.Equal(Answer + "\n\n", stdout);
        Assert.Contains($"the conversation reached its {steps} positions (-n {steps})", stderr);
    }

    [Fact]
    public void A_first_message_longer_than_n_ends_the_session_saying_so()
    {
        var (checkpoint, tokenizer) = TestModels.WriteSmallModel(_dir);
        var (exit, stdout, stderr) = RunCli(Chat(checkpoint, tokenizer, "-n", "5", "-y", "", "-i", "hi"));

        Assert.True(exit == 0, stderr);
        Assert.Equal(Answer + "\n", stdout);
        Assert.Matches(@"^the message is \d+ tokens in the chat template, more than the conversation's 5 positions \(-n 5\); start a new one with a larger -n \(at most 64, the model's context\)\n",
            stderr.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void A_user_line_longer_than_runc_512_byte_buffer_is_read_whole_in_UTF8()
    {
        var (checkpoint, tokenizer) = TestModels.WriteSmallModel(_dir, TestModels.Small(seqLen: 1024));
        string line = string.Concat(Enumerable.Repeat("ab é ", 150)); // 900 bytes
        Assert.True(Encoding.UTF8.GetByteCount(line) > 512);

        string expected;
        using (var model = LlamaModel.Load(checkpoint, tokenizer))
        {
            var session = new ChatSession(model, new SamplingOptions { Temperature = 0 });
            Assert.True(session.StartTurn(line));
            var reply = new StringBuilder();
            while (session.Next() is { } token) reply.Append(token.Text);
            expected = UserQuestion + Answer + reply + "\n";
        }

        var (exit, stdout, stderr) = RunCliWithInput(line + "\n", Chat(checkpoint, tokenizer, "-t", "0", "-n", "0", "-y", ""));

        Assert.True(exit == 0, stderr);
        Assert.Equal(expected, stdout);
        Assert.Contains("reached its 1024 positions", stderr);
    }

    [Fact]
    public async Task Ctrl_C_at_the_user_question_ends_the_line_with_exit_130()
    {
        Assert.SkipWhen(OperatingSystem.IsWindows(), "sends SIGINT with kill(1)");
        var (checkpoint, tokenizer) = TestModels.WriteSmallModel(_dir);
        using var cli = StartCli(Chat(checkpoint, tokenizer, "-y", ""));
        var stderr = cli.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);

        // Reads stdout until the question is out: the CLI then waits on stdin, which stays open.
        var stdout = new StringBuilder();
        var buffer = new char[256];
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken))
        {
            timeout.CancelAfter(TimeSpan.FromSeconds(60));
            while (!stdout.ToString().EndsWith(UserQuestion))
            {
                int read = await cli.StandardOutput.ReadAsync(buffer, timeout.Token);
                Assert.True(read > 0, $"stdout ended before the question: '{stdout}'");
                stdout.Append(buffer, 0, read);
            }
        }

        using (var kill = System.Diagnostics.Process.Start("kill", ["-INT", cli.Id.ToString()]))
            await kill.WaitForExitAsync(TestContext.Current.CancellationToken);
        stdout.Append(await cli.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken));
        Assert.True(cli.WaitForExit(30_000), "the CLI did not stop after SIGINT");

        Assert.Equal(130, cli.ExitCode);
        Assert.Equal(UserQuestion + "\n", stdout.ToString());
        Assert.DoesNotContain("   at ", await stderr);
    }
}

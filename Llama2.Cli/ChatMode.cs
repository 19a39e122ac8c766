using Llama2.Engine;
using Llama2.Engine.Chat;
using Llama2.Engine.Generation;
using Llama2.Engine.Sampling;

namespace Llama2.Cli;

/// <summary>
/// run.c's <c>-m chat</c>: the system prompt (<c>-y</c>, else asked on stdin at the first turn), the user's first message
/// (<c>-i</c>, else asked on stdin) and each later one (from stdin), each answered after <c>Assistant: </c> with the reply
/// streamed, until the conversation has used its positions (<c>-n</c>). Unlike run.c, lines have any length, the reply
/// comes in whole UTF-8 characters, nothing is printed after the EOS that ends a reply, end of input ends the
/// conversation, and the reason a conversation stops at its positions is said on stderr. With
/// <paramref name="contextShift"/> the conversation may use more positions than the model's context: the oldest tokens
/// after BOS and the system prompt are dropped as it goes.
/// </summary>
sealed class ChatMode(LlamaModel model, SamplingOptions sampling, int positions, bool contextShift, TextReader stdin, TextWriter stdout)
{
    readonly ChatSession _session = new(model, sampling, positions, contextShift);
    int _generatedTokens, _shifts, _discarded;
    TimeSpan _generationTime;

    /// <summary>Runs the conversation; returns the exit code: 0 at its end, <see cref="RunCommand.Cancelled"/> on Ctrl+C.</summary>
    public async Task<int> RunAsync(string? system, string? firstUser, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                bool first = _session.Turns == 0;
                string? turnSystem = null; // the system prompt opens the conversation: first turn only
                if (first)
                {
                    system ??= await AskAsync("Enter system prompt (optional): ", cancellationToken);
                    if (system is null) return End(null); // end of input
                    turnSystem = system;
                }
                string? user = first && firstUser is not null ? firstUser : await AskAsync("User: ", cancellationToken);
                if (user is null) return End(null);

                stdout.Write("Assistant: ");
                if (!_session.StartTurn(user, turnSystem))
                {
                    int tokens = new Llama2ChatTemplate(model.Tokenizer).EncodeTurn(user, turnSystem).Length;
                    int limit = _session.PositionLimit, left = limit - _session.PositionsUsed;
                    return End($"the message is {tokens} tokens in the chat template, more than the " +
                               (first ? $"conversation's {limit} positions" : $"{left} positions left of the conversation's {limit}"));
                }

                FinishReason? finish = null;
                while (!cancellationToken.IsCancellationRequested && _session.Next() is { } token)
                {
                    stdout.Write(token.Text);
                    finish = token.Finish ?? finish;
                    if (token.Summary is { } summary)
                    {
                        _generatedTokens += summary.GeneratedTokens;
                        _generationTime += summary.TotalTime;
                        _shifts += summary.ContextShifts;
                        _discarded += summary.DiscardedTokens;
                    }
                }
                if (cancellationToken.IsCancellationRequested) break;
                if (finish == FinishReason.EosToken) stdout.Write('\n'); // run.c ends the reply's line at EOS
                if (_session.Status == ChatSessionStatus.ContextFull) return End($"the conversation reached its {_session.PositionLimit} positions");
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        stdout.Write('\n');
        return RunCommand.Cancelled;
    }

    /// <summary>Prints <paramref name="prompt"/> and reads the user's line (without its line break); null at end of input.</summary>
    async Task<string?> AskAsync(string prompt, CancellationToken cancellationToken)
    {
        stdout.Write(prompt);
        // A console read cannot be interrupted: on Ctrl+C it is left behind, and the process ends.
        return await Task.Run(stdin.ReadLine, CancellationToken.None).WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Ends the conversation as run.c does when its positions run out (a line break), saying why on stderr when it is
    /// the positions (<paramref name="positionsProblem"/>) rather than the end of input; then the speed, as generate mode.
    /// </summary>
    int End(string? positionsProblem)
    {
        stdout.Write('\n');
        if (positionsProblem is not null)
        {
            int context = model.Config.SeqLen;
            Console.Error.WriteLine(contextShift ? $"{positionsProblem} (-n {_session.PositionLimit}); start a new one with a larger -n"
                : _session.PositionLimit < context
                ? $"{positionsProblem} (-n {_session.PositionLimit}); start a new one with a larger -n (at most {context}, the model's context)"
                : $"{positionsProblem} (the model's context); start a new one, or go on past it with --context-shift");
        }
        RunCommand.ReportShifts(_shifts, _discarded);
        RunCommand.ReportSpeed(_generatedTokens, _generationTime);
        return 0;
    }
}

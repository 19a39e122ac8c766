using Llama2.Engine.Generation;
using Llama2.Engine.Inference;
using Llama2.Engine.Sampling;

namespace Llama2.Engine.Chat;

/// <summary>Where a <see cref="ChatSession"/> is.</summary>
public enum ChatSessionStatus
{
    /// <summary>Waiting for the user's next message: <see cref="ChatSession.StartTurn"/>.</summary>
    AwaitingUser,
    /// <summary>The assistant is replying: take its tokens with <see cref="ChatSession.Next"/>.</summary>
    Replying,
    /// <summary>The conversation has used every position it may (the step limit; at most the context, unless it shifts): it is over.</summary>
    ContextFull,
}

/// <summary>
/// A conversation with the model, turn by turn, as run.c's chat mode: one sequence whose key/value cache keeps the
/// whole conversation. Each user turn feeds BOS and <see cref="Llama2ChatTemplate.RenderTurn"/>'s text (with the system
/// prompt on the first turn) at the next positions; the assistant's reply streams token by token, in whole UTF-8
/// characters, until the model samples EOS, which is fed before the next turn's BOS. As in run.c, BOS does not end a
/// reply, and a coin is drawn after every position, prompt included, so a seed gives run.c's tokens. With a context
/// shift the conversation may outgrow the model's context: the oldest tokens after BOS and the system prompt are
/// dropped as it goes (<see cref="ContextShift"/>). Not thread-safe.
/// </summary>
public sealed class ChatSession
{
    readonly LlamaModel _model;
    readonly Llama2ChatTemplate _template;
    readonly RunState _state;
    readonly GenerationRequest _request;
    readonly bool _contextShift;
    SequenceGenerator? _sequence;

    /// <param name="model">The model to talk to.</param>
    /// <param name="sampling">How replies are sampled (run.c's -t, -p, -s).</param>
    /// <param name="positions">Most positions the conversation may use, prompts and replies together (run.c's -n):
    /// 1..seq_len, or any number with <paramref name="contextShift"/>; null = seq_len.</param>
    /// <param name="contextShift">Go on past the model's context by dropping the oldest tokens after the system
    /// prompt; otherwise the conversation ends when its context is full, as run.c's.</param>
    public ChatSession(LlamaModel model, SamplingOptions sampling, int? positions = null, bool contextShift = false)
    {
        if (sampling.Validate() is [var problem, ..]) throw new ArgumentException(problem.Message, nameof(sampling));
        int seqLen = model.Config.SeqLen;
        int limit = positions ?? seqLen;
        if (limit < 1 || (limit > seqLen && !contextShift))
            throw new ArgumentOutOfRangeException(nameof(positions), positions, $"a conversation uses 1..{seqLen} positions (the model's context)");
        _model = model;
        _template = new Llama2ChatTemplate(model.Tokenizer);
        _state = model.Transformer.CreateState(Math.Min(limit, seqLen));
        _contextShift = contextShift;
        PositionLimit = limit;
        _request = new GenerationRequest
        {
            Sampling = sampling,
            StopAtEos = true,
            StopAtBos = false,
            DrawAtEveryPosition = true,
            MaxPositions = limit,
        };
    }

    public ChatSessionStatus Status { get; private set; } = ChatSessionStatus.AwaitingUser;

    /// <summary>Positions the conversation may use (run.c's -n).</summary>
    public int PositionLimit { get; }

    /// <summary>Positions used so far, in the context window: tokens in the key/value cache.</summary>
    public int Position => _sequence?.FedCount ?? 0;

    /// <summary>Tokens of the conversation so far, those a context shift dropped included (the last one not yet fed).</summary>
    public int PositionsUsed => _sequence?.TotalTokens ?? 0;

    /// <summary>The conversation as tokens: each turn's BOS and prompt, the replies, the EOS ending each reply (the last
    /// token not yet fed). With a context shift, the tokens still in the context window.</summary>
    public ReadOnlySpan<int> Tokens => _sequence is null ? [] : _sequence.Tokens;

    /// <summary>Number of user turns started so far.</summary>
    public int Turns { get; private set; }

    /// <summary>
    /// Starts a user turn: the assistant's reply then comes from <see cref="Next"/>. <paramref name="system"/> (empty =
    /// none) may open the conversation, on the first turn only. Returns false when the turn does not fit in the
    /// positions left: the session is then over (<see cref="ChatSessionStatus.ContextFull"/>) and nothing was fed.
    /// </summary>
    public bool StartTurn(string user, string? system = null)
    {
        ArgumentNullException.ThrowIfNull(user);
        if (Status == ChatSessionStatus.Replying)
            throw new InvalidOperationException("the assistant is still replying: read its reply to the end with Next() first");
        if (Status == ChatSessionStatus.ContextFull) return false;
        if (Turns > 0 && !string.IsNullOrEmpty(system))
            throw new ArgumentException("a system prompt opens the conversation; later turns cannot have one", nameof(system));

        var prompt = _template.EncodeTurn(user, system);
        bool started;
        if (_sequence is null)
        {
            started = prompt.Length <= PositionLimit;
            if (started)
            {
                // A shift never drops BOS and the system prompt, as long as they leave a position to shift.
                var shift = _contextShift
                    ? new ContextShift { Keep = Math.Min(_template.SystemPrefixLength(prompt, system), _state.ContextLength - 1) }
                    : null;
                _sequence = _model.StartSequence(_request with { PromptIds = prompt, ContextShift = shift }, _state);
            }
        }
        else started = _sequence.Continue(prompt);

        Status = started ? ChatSessionStatus.Replying : ChatSessionStatus.ContextFull;
        if (started) Turns++;
        return started;
    }

    /// <summary>
    /// The assistant's next token (its text is whole UTF-8 characters; EOS has none), or null once the reply is over.
    /// The last token of a reply carries its <see cref="GeneratedToken.Finish"/>: <see cref="FinishReason.EosToken"/>
    /// when the model ended it (then the user speaks next, if a position is left), <see cref="FinishReason.ContextFull"/>
    /// when the conversation ran out of positions.
    /// </summary>
    public GeneratedToken? Next()
    {
        if (Status != ChatSessionStatus.Replying) return null;
        var token = _sequence!.Next();
        if (token is null) Status = ChatSessionStatus.ContextFull;
        else if (token.Finish is { } finish)
            // run.c asks for the next user message only if a position is left after feeding the EOS.
            Status = finish == FinishReason.EosToken && _sequence.TotalTokens < PositionLimit
                ? ChatSessionStatus.AwaitingUser
                : ChatSessionStatus.ContextFull;
        return token;
    }
}

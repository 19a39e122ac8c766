using System.Diagnostics;
using System.Text;
using Llama2.Engine.Inference;
using Llama2.Engine.Sampling;
using Llama2.Engine.Tokenization;

namespace Llama2.Engine.Generation;

/// <summary>
/// One sequence being generated, stepped a token at a time (the loop of run.c's <c>generate</c>): the prompt is fed
/// first, then each sampled token is fed back until a stop condition. A finished sequence can go on with more prompt
/// tokens (<see cref="Continue"/>: a chat's next turn). With a <see cref="ContextShift"/> the sequence goes on past the
/// end of its context window: the tokens that no longer fit are dropped from the window and the kept ones after them
/// are fed again at their new positions (see <see cref="ContextShift"/>). Not thread-safe; a scheduler owns it.
/// </summary>
public sealed class SequenceGenerator
{
    readonly LlamaModel _model;
    readonly GenerationRequest _request;
    readonly RunState _state;
    readonly Sampler _sampler;
    readonly Utf8TextAssembler _text = new();
    readonly StopSequenceFilter _stops;
    readonly StringBuilder _generatedText = new();
    int[] _tokens; // the context window: fed tokens, then those not fed yet; the history for the repetition penalty
    int[] _prompt; // this generation's prompt, as given
    int _maxNewTokens;
    readonly Stopwatch _clock = new();
    int _count; // tokens in _tokens
    int _generated;
    int _generatedStart; // where this generation's generated tokens start in _tokens (for OpenAI's penalties)
    int _fedSinceSample; // positions fed since the last sample, not counting tokens fed again after a shift
    int _discarded; // tokens shifts have dropped from the window, over the sequence's life
    int _shifts, _shiftDiscarded; // shifts and the tokens they dropped, in this generation
    TimeSpan _timeToFirstToken;

    internal SequenceGenerator(LlamaModel model, GenerationRequest request, RunState state)
    {
        var config = model.Config;
        var prompt = request.PromptIds?.ToArray() ?? model.Tokenizer.Encode(request.Prompt, request.AddBos, eos: false).ToArray();
        if (prompt.Length == 0)
            throw new ArgumentException("the prompt is empty: give text, or token ids, or allow BOS", nameof(request));
        foreach (int id in prompt)
            if ((uint)id >= (uint)config.VocabSize)
                throw new ArgumentException($"prompt token id {id} is outside the vocabulary (0..{config.VocabSize - 1})", nameof(request));
        if (request.ContextShift?.Validate(state.ContextLength) is { } shiftProblem)
            throw new ArgumentException(shiftProblem, nameof(request));
        if (request.ContextShift is null && prompt.Length > state.ContextLength)
            throw new ArgumentException($"the prompt is {prompt.Length} tokens; the context is {state.ContextLength}", nameof(request));
        if (request.MaxPositions is { } positions && prompt.Length > positions)
            throw new ArgumentException($"the prompt is {prompt.Length} tokens; the request allows {positions} positions", nameof(request));
        if (request.MaxNewTokens is < 0)
            throw new ArgumentException("max new tokens must be ≥ 0", nameof(request));
        if (request.Sampling.Validate() is [var problem, ..])
            throw new ArgumentException(problem.Message, nameof(request));

        _model = model;
        _request = request;
        _state = state;
        _sampler = new Sampler(config.VocabSize, request.Sampling);
        _stops = new StopSequenceFilter(request.StopSequences);
        _tokens = new int[Math.Max(prompt.Length, state.ContextLength) + 1];
        prompt.CopyTo(_tokens, 0);
        _count = prompt.Length;
        _prompt = prompt;
        _generatedStart = _count;
        _maxNewTokens = NewTokenLimit();
        FitWindow();
    }

    /// <summary>Tokens of this generation's prompt (after <see cref="Continue"/>, of the prompt it was given).</summary>
    public int PromptTokenCount => _prompt.Length;
    public ReadOnlySpan<int> PromptIds => _prompt;
    /// <summary>
    /// The tokens in the context window, in order: prompt and generated tokens (the last generated one not yet fed).
    /// Without a context shift, the whole sequence; with one, what the shifts have not dropped.
    /// </summary>
    public ReadOnlySpan<int> Tokens => _tokens.AsSpan(0, _count);
    /// <summary>Tokens of the whole sequence, every turn's and those the context shifts dropped included.</summary>
    public int TotalTokens => _count + _discarded;
    public int GeneratedCount => _generated;
    public bool IsFinished => Finish is not null;
    public FinishReason? Finish { get; private set; }

    /// <summary>
    /// Runs the forward passes for the next token and returns it, or null once the sequence has finished.
    /// The first call also feeds the prompt.
    /// </summary>
    public GeneratedToken? Next()
    {
        if (!Begin()) return null;
        var logits = _model.Transformer.Prefill(Unfed, FedCount, _state);
        MarkFed(Unfed.Length);
        return Sample(logits);
    }

    /// <summary>
    /// Goes on after the sequence finished, as a chat's next turn: the last sampled token (the EOS that ended the
    /// assistant's reply) is fed first, then <paramref name="prompt"/>, at the next positions, and generation starts
    /// again as after the first prompt: same request, same sampler (its random generator goes on), and the key/value
    /// cache keeps everything before, so nothing is fed twice. Returns false, changing nothing, when they do not fit in
    /// the positions left (the context, unless the request shifts it, and <see cref="GenerationRequest.MaxPositions"/>).
    /// </summary>
    public bool Continue(ReadOnlySpan<int> prompt)
    {
        if (Finish is null) throw new InvalidOperationException("the sequence is still generating; it can go on once finished");
        if (prompt.IsEmpty) throw new ArgumentException("no prompt tokens to go on with", nameof(prompt));
        foreach (int id in prompt)
            if ((uint)id >= (uint)_model.Config.VocabSize)
                throw new ArgumentException($"prompt token id {id} is outside the vocabulary (0..{_model.Config.VocabSize - 1})", nameof(prompt));
        // Everything before the next sample: what is fed, the last sampled token and the prompt.
        if (PositionLimit is { } limit && TotalTokens + prompt.Length > limit) return false;

        if (_tokens.Length < _count + prompt.Length + 1) Array.Resize(ref _tokens, Math.Max(_count + prompt.Length, _state.ContextLength) + 1);
        prompt.CopyTo(_tokens.AsSpan(_count));
        _count += prompt.Length;
        _prompt = prompt.ToArray();
        _generatedStart = _count;
        _maxNewTokens = NewTokenLimit();
        _text.Flush(); // a stop sequence may have left part of a character or of a stop behind
        _stops.Flush();
        _generatedText.Clear();
        _generated = 0;
        _shifts = _shiftDiscarded = 0;
        _timeToFirstToken = TimeSpan.Zero;
        _clock.Reset();
        Finish = null;
        FitWindow();
        return true;
    }

    /// <summary>
    /// Most positions the sequence may use in all (<see cref="TotalTokens"/> before a sample, plus the sampled token
    /// that need not be fed): the request's limit, cut to the context unless it shifts; null = no limit.
    /// </summary>
    int? PositionLimit => _request.ContextShift is null
        ? Math.Min(_request.MaxPositions ?? _state.ContextLength, _state.ContextLength)
        : _request.MaxPositions;

    /// <summary>
    /// Most tokens to generate once everything before the next sample is fed: the request's limit, cut to the
    /// positions left. The last generated token need not be fed, so a full context yields seq_len − fed + 1 tokens (as
    /// run.c).
    /// </summary>
    int NewTokenLimit()
    {
        long byPositions = PositionLimit is { } limit ? limit - TotalTokens + 1 : long.MaxValue;
        return (int)Math.Clamp(Math.Min(_request.MaxNewTokens ?? long.MaxValue, byPositions), 0, int.MaxValue);
    }

    /// <summary>
    /// The context shift: when the window's tokens no longer fit the cache, drops the fewest whole shifts' worth right
    /// after the kept ones and moves the rest down. The moved tokens that were fed are fed again at their new positions
    /// (the next forward passes), so the cache then holds what a fresh sequence fed the window would hold.
    /// </summary>
    void FitWindow()
    {
        if (_request.ContextShift is not { } shift) return;
        int context = _state.ContextLength;
        int shifts = shift.ShiftsToFit(_count, context);
        if (shifts == 0) return;
        int keep = shift.Keep, drop = shifts * shift.DiscardPerShift(context);
        _tokens.AsSpan(keep + drop, _count - keep - drop).CopyTo(_tokens.AsSpan(keep));
        _count -= drop;
        if (FedCount > keep)
        {
            _fedSinceSample -= Math.Max(0, FedCount - keep - drop); // fed again, not new positions
            FedCount = keep;
        }
        if (_generatedStart > keep) _generatedStart = Math.Max(keep, _generatedStart - drop);
        _discarded += drop;
        _shifts += shifts;
        _shiftDiscarded += drop;
    }

    /// <summary>
    /// Starts the clock on the first call (time to first token counts from here) and says whether there is a token to
    /// generate; false once finished (or when no new token was asked for).
    /// </summary>
    internal bool Begin()
    {
        if (Finish is not null) return false;
        if (_generated == 0 && !_clock.IsRunning)
        {
            _clock.Start();
            if (_maxNewTokens == 0)
            {
                Finish = FinishReason.Length;
                return false;
            }
        }
        return true;
    }

    /// <summary>The key/value cache this sequence runs in.</summary>
    internal RunState State => _state;

    /// <summary>
    /// Tokens not in the KV cache yet: the rest of the prompt at first, then the last sampled token (after a context
    /// shift, the kept tokens before it too).
    /// </summary>
    internal ReadOnlySpan<int> Unfed => _tokens.AsSpan(FedCount, _count - FedCount);

    /// <summary>Tokens in the KV cache: the position of the first unfed token.</summary>
    internal int FedCount { get; private set; }

    /// <summary>Records that the first <paramref name="count"/> unfed tokens went through the model.</summary>
    internal void MarkFed(int count)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, _count - FedCount);
        FedCount += count;
        _fedSinceSample += count;
    }

    /// <summary>
    /// Samples the next token from <paramref name="logits"/> (those after the last token, once every token is fed)
    /// and returns it, with the finish reason and summary if it is the last.
    /// </summary>
    internal GeneratedToken Sample(Span<float> logits)
    {
        if (FedCount != _count) throw new InvalidOperationException("the sequence has tokens not yet fed to the model");
        int previous = _tokens[_count - 1];
        if (_request.DrawAtEveryPosition) _sampler.SkipDraws(_fedSinceSample - 1);
        _fedSinceSample = 0;
        int next = _sampler.Sample(logits, _tokens.AsSpan(0, _count), _count - _generatedStart, out float logprob);
        _tokens[_count++] = next;
        _generated++;
        if (_generated == 1) _timeToFirstToken = _clock.Elapsed;

        var tokenizer = _model.Tokenizer;
        bool ends = (next == Tokenizer.Bos && _request.StopAtBos) || (next == Tokenizer.Eos && _request.StopAtEos);
        string text = ends ? "" : _text.Append(tokenizer.Decode(previous, next));
        text = _stops.Push(text, out bool stopped);

        FinishReason? finish = stopped ? FinishReason.StopSequence
            : ends ? FinishReason.EosToken
            : _generated >= _maxNewTokens ? (_maxNewTokens == _request.MaxNewTokens ? FinishReason.Length : FinishReason.ContextFull)
            : null;
        if (finish is not null && !stopped) text += _stops.Push(_text.Flush(), out _) + _stops.Flush();
        _generatedText.Append(text);

        var token = new GeneratedToken(_generated - 1, next, text, logprob, tokenizer.IsSpecial(next), _clock.Elapsed)
        {
            TopLogprobs = _sampler.TopLogprobs.IsEmpty ? null : _sampler.TopLogprobs.ToArray(),
        };
        if (finish is { } reason)
        {
            Finish = reason;
            return token with { Finish = reason, Summary = Summary(reason) };
        }
        FitWindow(); // the next token would not fit: shift now, so that what is left to feed always fits
        return token;
    }

    GenerationSummary Summary(FinishReason reason) => new(
        reason, PromptTokenCount, _generated, _generatedText.ToString(), _request.Sampling.Seed,
        _timeToFirstToken, _clock.Elapsed)
    {
        ContextShifts = _shifts,
        DiscardedTokens = _shiftDiscarded,
    };
}

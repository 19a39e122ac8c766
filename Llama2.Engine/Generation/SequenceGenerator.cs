using System.Diagnostics;
using System.Text;
using Llama2.Engine.Inference;
using Llama2.Engine.Sampling;
using Llama2.Engine.Tokenization;

namespace Llama2.Engine.Generation;

/// <summary>
/// One sequence being generated, stepped a token at a time (the loop of run.c's <c>generate</c>): the prompt is fed
/// first, then each sampled token is fed back until a stop condition. A finished sequence can go on with more prompt
/// tokens (<see cref="Continue"/>: a chat's next turn). Not thread-safe; a scheduler owns it.
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
    int[] _tokens; // prompt then generated tokens: the history for the repetition penalty
    int _maxNewTokens;
    readonly Stopwatch _clock = new();
    int _count; // tokens in _tokens
    int _generated;
    int _promptStart; // where this generation's prompt starts in _tokens (after the turns before it)
    int _fedAtLastSample; // FedCount when the last token was sampled
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
        if (prompt.Length > state.ContextLength)
            throw new ArgumentException($"the prompt is {prompt.Length} tokens; the context is {state.ContextLength}", nameof(request));
        if (request.MaxNewTokens is < 0)
            throw new ArgumentException("max new tokens must be ≥ 0", nameof(request));
        if (request.Sampling.Validate() is [var problem, ..])
            throw new ArgumentException(problem.Message, nameof(request));

        _model = model;
        _request = request;
        _state = state;
        _sampler = new Sampler(config.VocabSize, request.Sampling);
        _stops = new StopSequenceFilter(request.StopSequences);
        _maxNewTokens = NewTokenLimit(prompt.Length);
        _tokens = new int[prompt.Length + _maxNewTokens];
        prompt.CopyTo(_tokens, 0);
        _count = prompt.Length;
        PromptTokenCount = prompt.Length;
    }

    /// <summary>Tokens of this generation's prompt (after <see cref="Continue"/>, of the prompt it was given).</summary>
    public int PromptTokenCount { get; private set; }
    public ReadOnlySpan<int> PromptIds => _tokens.AsSpan(_promptStart, PromptTokenCount);
    /// <summary>The whole sequence so far: every prompt and generated token in order (the last generated one not yet fed).</summary>
    public ReadOnlySpan<int> Tokens => _tokens.AsSpan(0, _count);
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
    /// the context.
    /// </summary>
    public bool Continue(ReadOnlySpan<int> prompt)
    {
        if (Finish is null) throw new InvalidOperationException("the sequence is still generating; it can go on once finished");
        if (prompt.IsEmpty) throw new ArgumentException("no prompt tokens to go on with", nameof(prompt));
        foreach (int id in prompt)
            if ((uint)id >= (uint)_model.Config.VocabSize)
                throw new ArgumentException($"prompt token id {id} is outside the vocabulary (0..{_model.Config.VocabSize - 1})", nameof(prompt));
        int toFeed = _count + prompt.Length; // everything before the next sample: what is fed, the last sampled token and the prompt
        if (toFeed > _state.ContextLength) return false;

        if (_tokens.Length < toFeed + 1) Array.Resize(ref _tokens, _state.ContextLength + 1);
        prompt.CopyTo(_tokens.AsSpan(_count));
        _promptStart = _count;
        _count = toFeed;
        PromptTokenCount = prompt.Length;
        _maxNewTokens = NewTokenLimit(toFeed);
        _text.Flush(); // a stop sequence may have left part of a character or of a stop behind
        _stops.Flush();
        _generatedText.Clear();
        _generated = 0;
        _timeToFirstToken = TimeSpan.Zero;
        _clock.Reset();
        Finish = null;
        return true;
    }

    /// <summary>
    /// Most tokens to generate after feeding <paramref name="toFeed"/> tokens: the request's limit, cut to the context.
    /// The last generated token need not be fed, so a full context yields seq_len − fed + 1 tokens (as run.c).
    /// </summary>
    int NewTokenLimit(int toFeed)
    {
        int contextRoom = _state.ContextLength - toFeed + 1;
        return Math.Min(_request.MaxNewTokens ?? contextRoom, contextRoom);
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

    /// <summary>Tokens not in the KV cache yet: the rest of the prompt at first, then the last sampled token.</summary>
    internal ReadOnlySpan<int> Unfed => _tokens.AsSpan(FedCount, _count - FedCount);

    /// <summary>Tokens in the KV cache: the position of the first unfed token.</summary>
    internal int FedCount { get; private set; }

    /// <summary>Records that the first <paramref name="count"/> unfed tokens went through the model.</summary>
    internal void MarkFed(int count)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, _count - FedCount);
        FedCount += count;
    }

    /// <summary>
    /// Samples the next token from <paramref name="logits"/> (those after the last token, once every token is fed)
    /// and returns it, with the finish reason and summary if it is the last.
    /// </summary>
    internal GeneratedToken Sample(Span<float> logits)
    {
        if (FedCount != _count) throw new InvalidOperationException("the sequence has tokens not yet fed to the model");
        int previous = _tokens[_count - 1];
        if (_request.DrawAtEveryPosition) _sampler.SkipDraws(FedCount - _fedAtLastSample - 1);
        _fedAtLastSample = FedCount;
        int next = _sampler.Sample(logits, _tokens.AsSpan(0, _count), _generated, out float logprob);
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
        return token;
    }

    GenerationSummary Summary(FinishReason reason) => new(
        reason, PromptTokenCount, _generated, _generatedText.ToString(), _request.Sampling.Seed,
        _timeToFirstToken, _clock.Elapsed);
}

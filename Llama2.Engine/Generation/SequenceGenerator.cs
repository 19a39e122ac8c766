using System.Diagnostics;
using System.Text;
using Llama2.Engine.Inference;
using Llama2.Engine.Sampling;
using Llama2.Engine.Tokenization;

namespace Llama2.Engine.Generation;

/// <summary>
/// One sequence being generated, stepped a token at a time (the loop of run.c's <c>generate</c>): the prompt is fed
/// first, then each sampled token is fed back until a stop condition. Not thread-safe; a scheduler owns it.
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
    readonly int[] _tokens; // prompt then generated tokens: the history for the repetition penalty
    readonly int _maxNewTokens;
    readonly Stopwatch _clock = new();
    int _count; // tokens in _tokens
    int _generated;
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
        if (request.Sampling.Validate() is { } problem)
            throw new ArgumentException(problem, nameof(request));

        _model = model;
        _request = request;
        _state = state;
        _sampler = new Sampler(config.VocabSize, request.Sampling);
        _stops = new StopSequenceFilter(request.StopSequences);
        // The last generated token need not be fed, so a full context yields seq_len − prompt + 1 tokens (as run.c).
        int contextRoom = state.ContextLength - prompt.Length + 1;
        _maxNewTokens = Math.Min(request.MaxNewTokens ?? contextRoom, contextRoom);
        _tokens = new int[prompt.Length + _maxNewTokens];
        prompt.CopyTo(_tokens, 0);
        _count = prompt.Length;
        PromptTokenCount = prompt.Length;
    }

    public int PromptTokenCount { get; }
    public ReadOnlySpan<int> PromptIds => _tokens.AsSpan(0, PromptTokenCount);
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
        int next = _sampler.Sample(logits, _tokens.AsSpan(0, _count), out float logprob);
        _tokens[_count++] = next;
        _generated++;
        if (_generated == 1) _timeToFirstToken = _clock.Elapsed;

        var tokenizer = _model.Tokenizer;
        bool ends = next == Tokenizer.Bos || (next == Tokenizer.Eos && _request.StopAtEos);
        string text = ends ? "" : _text.Append(tokenizer.Decode(previous, next));
        text = _stops.Push(text, out bool stopped);

        FinishReason? finish = stopped ? FinishReason.StopSequence
            : ends ? FinishReason.EosToken
            : _generated >= _maxNewTokens ? (_maxNewTokens == _request.MaxNewTokens ? FinishReason.Length : FinishReason.ContextFull)
            : null;
        if (finish is not null && !stopped) text += _stops.Push(_text.Flush(), out _) + _stops.Flush();
        _generatedText.Append(text);

        var token = new GeneratedToken(_generated - 1, next, text, logprob, tokenizer.IsSpecial(next), _clock.Elapsed);
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

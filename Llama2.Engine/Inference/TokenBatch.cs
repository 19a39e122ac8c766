using Llama2.Engine.Model;

namespace Llama2.Engine.Inference;

/// <summary>
/// Tokens that go through the model together in one forward pass (<see cref="Transformer.Forward(TokenBatch)"/>):
/// a chunk of one sequence's prompt, one decoding step of every active sequence, or both at once. Each row is a token
/// at a position of a sequence; its key and value go into that sequence's cache, and a row that asks for logits gets
/// the next-token logits. The weights are read once for the whole batch, and every row's result is bit for bit what
/// it would be alone.
/// </summary>
public sealed class TokenBatch
{
    readonly RunState[] _sequences;
    readonly int[] _tokens, _positions;
    readonly int[] _logitsRows; // for each logits index, the row it belongs to
    readonly float[] _logits;

    /// <param name="config">The model's shape.</param>
    /// <param name="capacity">Rows (tokens) per pass.</param>
    /// <param name="maxLogits">Rows per pass that may ask for logits (one per sequence is enough).</param>
    public TokenBatch(ModelConfig config, int capacity, int maxLogits)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLogits, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxLogits, capacity);
        Config = config;
        Capacity = capacity;
        MaxLogits = maxLogits;
        _sequences = new RunState[capacity];
        _tokens = new int[capacity];
        _positions = new int[capacity];
        _logitsRows = new int[maxLogits];
        _logits = new float[checked(maxLogits * config.VocabSize)];
        Activations = new Activations(config, capacity);
    }

    public ModelConfig Config { get; }
    public int Capacity { get; }
    public int MaxLogits { get; }
    /// <summary>Rows added since the last <see cref="Clear"/>.</summary>
    public int Count { get; private set; }
    /// <summary>Rows that asked for logits.</summary>
    public int LogitsCount { get; private set; }

    public void Clear()
    {
        Array.Clear(_sequences, 0, Count); // drop references to finished sequences
        Count = 0;
        LogitsCount = 0;
    }

    /// <summary>
    /// Adds <paramref name="token"/> at <paramref name="position"/> of <paramref name="sequence"/>. Returns the index
    /// of its logits for <see cref="Logits"/> when <paramref name="logits"/> is set, else −1.
    /// </summary>
    public int Add(RunState sequence, int token, int position, bool logits)
    {
        ArgumentNullException.ThrowIfNull(sequence);
        if (sequence.Config != Config) throw new ArgumentException("the sequence belongs to a model of another shape", nameof(sequence));
        if ((uint)token >= (uint)Config.VocabSize)
            throw new ArgumentOutOfRangeException(nameof(token), token, $"token id must be in 0..{Config.VocabSize - 1}");
        if ((uint)position >= (uint)sequence.ContextLength)
            throw new ArgumentOutOfRangeException(nameof(position), position, $"position must be in 0..{sequence.ContextLength - 1}");
        if (Count == Capacity) throw new InvalidOperationException($"the batch is full ({Capacity} tokens)");
        if (logits && LogitsCount == MaxLogits) throw new InvalidOperationException($"the batch already has {MaxLogits} rows asking for logits");

        int row = Count++;
        _sequences[row] = sequence;
        _tokens[row] = token;
        _positions[row] = position;
        if (!logits) return -1;
        _logitsRows[LogitsCount] = row;
        return LogitsCount++;
    }

    /// <summary>The next-token logits of the index-th row that asked for them, after the pass.</summary>
    public Span<float> Logits(int index)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)LogitsCount, nameof(index));
        return _logits.AsSpan(index * Config.VocabSize, Config.VocabSize);
    }

    internal RunState Sequence(int row) => _sequences[row];
    internal int Token(int row) => _tokens[row];
    internal int Position(int row) => _positions[row];
    internal int LogitsRow(int index) => _logitsRows[index];
    /// <summary>All the logits rows, one after another (LogitsCount × vocab).</summary>
    internal Span<float> AllLogits => _logits.AsSpan(0, LogitsCount * Config.VocabSize);
    internal Activations Activations { get; }
}

using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Llama2.Engine.Model;

namespace Llama2.Engine.Inference;

/// <summary>
/// One sequence's key/value cache, plus the batches it uses when it runs on its own (one token when decoding, up to
/// <see cref="PrefillBatch"/> prompt tokens). One per concurrent sequence; the weights are shared. A scheduler that
/// steps many sequences together uses only their caches and runs them in a <see cref="TokenBatch"/> of its own.
/// </summary>
public sealed unsafe class RunState
{
    /// <summary>Prompt tokens run through the layers together by <see cref="Transformer.Prefill"/>.</summary>
    public const int PrefillBatch = 128;

    TokenBatch? _step, _prefill;

    /// <param name="c">The model's shape.</param>
    /// <param name="contextLength">Positions the cache holds (prompt and generated tokens together), 1..seq_len;
    /// null = the model's whole context. A smaller cache bounds the memory of a sequence.</param>
    public RunState(ModelConfig c, int? contextLength = null)
    {
        Config = c;
        ContextLength = contextLength ?? c.SeqLen;
        ArgumentOutOfRangeException.ThrowIfLessThan(ContextLength, 1, nameof(contextLength));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(ContextLength, c.SeqLen, nameof(contextLength));
        // Never read before written (position p reads rows 0..p only), so the cache is not cleared: untouched pages
        // cost no RSS (see Commit). Pinned, so a batch can point at the caches of many sequences at once.
        KeyCache = GC.AllocateUninitializedArray<float>(checked(c.NLayers * ContextLength * c.KvDim), pinned: true);
        ValueCache = GC.AllocateUninitializedArray<float>(checked(c.NLayers * ContextLength * c.KvDim), pinned: true);
    }

    public ModelConfig Config { get; }

    /// <summary>Positions this sequence's cache holds: its prompt and generated tokens together fit in this.</summary>
    public int ContextLength { get; }
    /// <summary>(layer, position &lt; <see cref="ContextLength"/>, kv_dim)</summary>
    public float[] KeyCache { get; }
    public float[] ValueCache { get; }

    /// <summary>Bytes held by the key/value cache.</summary>
    public long KvCacheBytes => (KeyCache.LongLength + ValueCache.LongLength) * sizeof(float);

    /// <summary>
    /// Backs the whole cache with memory now, in 2 MiB pages where the system gives them, so that no position pays a
    /// page fault later: for a server's slots, which serve request after request. Left to fault lazily, every new
    /// position writes a row into each layer's part of the cache, nearly each a fresh 4 KiB page, and on a virtual
    /// machine page faults are dear enough to show in a decode step.
    /// </summary>
    public void Commit()
    {
        long floats = KeyCache.LongLength;
        PageCache.PreferHugePages((byte*)KeyRows(0), floats * sizeof(float));
        PageCache.PreferHugePages((byte*)ValueRows(0), floats * sizeof(float));
        int pageFloats = Environment.SystemPageSize / sizeof(float);
        for (long i = 0; i < floats; i += pageFloats)
        {
            KeyCache[i] = 0f;
            ValueCache[i] = 0f;
        }
    }

    /// <summary>The cache row of one layer at one position.</summary>
    public Span<float> Key(int layer, int pos) => KeyCache.AsSpan(CacheOffset(layer, pos), Config.KvDim);
    public Span<float> Value(int layer, int pos) => ValueCache.AsSpan(CacheOffset(layer, pos), Config.KvDim);

    /// <summary>The first key and value rows of a layer (ContextLength rows of kv_dim follow).</summary>
    internal float* KeyRows(int layer) => (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(KeyCache)) + CacheOffset(layer, 0);
    internal float* ValueRows(int layer) => (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(ValueCache)) + CacheOffset(layer, 0);

    int CacheOffset(int layer, int pos) => checked((layer * ContextLength + pos) * Config.KvDim);

    /// <summary>A batch of one token (decoding).</summary>
    internal TokenBatch Step => _step ??= new TokenBatch(Config, 1, 1);

    /// <summary>A batch of up to <see cref="PrefillBatch"/> prompt tokens, allocated on the first prefill.</summary>
    internal TokenBatch Prefill => _prefill ??= new TokenBatch(Config, Math.Min(PrefillBatch, ContextLength), 1);
}

/// <summary>Scratch activations of a batch of tokens, one row per token.</summary>
internal sealed class Activations(ModelConfig c, int capacity)
{
    /// <summary>The residual stream (tokens × dim).</summary>
    public AlignedFloats X { get; } = new(capacity * c.Dim);
    /// <summary>Normalized input of a block, then attention's output (tokens × dim).</summary>
    public AlignedFloats Xb { get; } = new(capacity * c.Dim);
    public AlignedFloats Q { get; } = new(capacity * c.Dim);
    /// <summary>This pass's keys and values (tokens × kv_dim), before they go into each sequence's cache.</summary>
    public AlignedFloats K { get; } = new(capacity * c.KvDim);
    public AlignedFloats V { get; } = new(capacity * c.KvDim);
    /// <summary>Feed-forward hidden activations (tokens × hidden_dim).</summary>
    public AlignedFloats Hb { get; } = new(capacity * c.HiddenDim);
    /// <summary>Attention scores (tokens × heads × seq_len).</summary>
    public float[] Att { get; } = new float[checked(capacity * c.NHeads * c.SeqLen)];
    /// <summary>Where each token's attention reads its sequence's cache (one layer at a time).</summary>
    public Kernels.KvView[] Views { get; } = new Kernels.KvView[capacity];
    /// <summary>An int8 matmul's input, quantized (int8 weights only; sized at the first pass).</summary>
    public Kernels.QuantizedActivations Quantized { get; } = new();
}

using Llama2.Engine.Model;

namespace Llama2.Engine.Inference;

/// <summary>
/// Everything one sequence needs while it runs: scratch activations and its key/value cache. One per concurrent
/// sequence; the weights are shared.
/// </summary>
public sealed class RunState
{
    /// <summary>Prompt tokens run through the layers together by <see cref="Transformer.Prefill"/>.</summary>
    public const int PrefillBatch = 64;

    Activations? _batch;

    public RunState(ModelConfig c)
    {
        Config = c;
        Step = new Activations(c, 1);
        Xb2 = new float[c.Dim];
        Hb2 = new float[c.HiddenDim];
        Logits = new float[c.VocabSize];
        // Never read before written (position p reads rows 0..p only), so the cache is not cleared: untouched pages cost no RSS.
        KeyCache = GC.AllocateUninitializedArray<float>(checked(c.NLayers * c.SeqLen * c.KvDim));
        ValueCache = GC.AllocateUninitializedArray<float>(checked(c.NLayers * c.SeqLen * c.KvDim));
    }

    public ModelConfig Config { get; }
    /// <summary>The residual stream.</summary>
    public float[] X => Step.X;
    public float[] Xb => Step.Xb;
    public float[] Xb2 { get; }
    /// <summary>FFN hidden activations: silu(w1 · x) ⊙ (w3 · x).</summary>
    public float[] Hb => Step.Hb;
    public float[] Hb2 { get; }
    public float[] Q => Step.Q;
    /// <summary>Attention scores, one row of seq_len per head.</summary>
    public float[] Att => Step.Att;
    public float[] Logits { get; }
    /// <summary>(layer, position, kv_dim)</summary>
    public float[] KeyCache { get; }
    public float[] ValueCache { get; }

    /// <summary>Bytes held by the key/value cache.</summary>
    public long KvCacheBytes => (KeyCache.LongLength + ValueCache.LongLength) * sizeof(float);

    /// <summary>The cache row of one layer at one position.</summary>
    public Span<float> Key(int layer, int pos) => KeyCache.AsSpan(CacheOffset(layer, pos), Config.KvDim);
    public Span<float> Value(int layer, int pos) => ValueCache.AsSpan(CacheOffset(layer, pos), Config.KvDim);

    /// <summary>The cache rows of one layer for positions [pos, pos + count).</summary>
    internal Span<float> Keys(int layer, int pos, int count) => KeyCache.AsSpan(CacheOffset(layer, pos), count * Config.KvDim);
    internal Span<float> Values(int layer, int pos, int count) => ValueCache.AsSpan(CacheOffset(layer, pos), count * Config.KvDim);

    int CacheOffset(int layer, int pos) => checked((layer * Config.SeqLen + pos) * Config.KvDim);

    /// <summary>Activations of one token (decoding).</summary>
    internal Activations Step { get; }

    /// <summary>Activations of up to <see cref="PrefillBatch"/> tokens, allocated on the first prefill.</summary>
    internal Activations Batch => _batch ??= new Activations(Config, Math.Min(PrefillBatch, Config.SeqLen));
}

/// <summary>The activations of a batch of tokens, one row per token.</summary>
internal sealed class Activations(ModelConfig c, int capacity)
{
    public int Capacity { get; } = capacity;
    /// <summary>The residual stream (tokens × dim).</summary>
    public float[] X { get; } = new float[capacity * c.Dim];
    /// <summary>Normalized input of a block, then attention's output (tokens × dim).</summary>
    public float[] Xb { get; } = new float[capacity * c.Dim];
    public float[] Q { get; } = new float[capacity * c.Dim];
    /// <summary>Feed-forward hidden activations (tokens × hidden_dim).</summary>
    public float[] Hb { get; } = new float[capacity * c.HiddenDim];
    /// <summary>Attention scores (tokens × heads × seq_len).</summary>
    public float[] Att { get; } = new float[checked(capacity * c.NHeads * c.SeqLen)];
}

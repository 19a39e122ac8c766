using Llama2.Engine.Model;

namespace Llama2.Engine.Inference;

/// <summary>
/// Everything one sequence needs while it runs: scratch activations and its key/value cache. One per concurrent
/// sequence; the weights are shared.
/// </summary>
public sealed class RunState
{
    public RunState(ModelConfig c)
    {
        Config = c;
        X = new float[c.Dim];
        Xb = new float[c.Dim];
        Xb2 = new float[c.Dim];
        Hb = new float[c.HiddenDim];
        Hb2 = new float[c.HiddenDim];
        Q = new float[c.Dim];
        Att = new float[c.NHeads * c.SeqLen];
        Logits = new float[c.VocabSize];
        KeyCache = new float[(long)c.NLayers * c.SeqLen * c.KvDim];
        ValueCache = new float[(long)c.NLayers * c.SeqLen * c.KvDim];
    }

    public ModelConfig Config { get; }
    /// <summary>The residual stream.</summary>
    public float[] X { get; }
    public float[] Xb { get; }
    public float[] Xb2 { get; }
    /// <summary>FFN hidden activations (w1 · x and w3 · x).</summary>
    public float[] Hb { get; }
    public float[] Hb2 { get; }
    public float[] Q { get; }
    /// <summary>Attention scores, one row of seq_len per head.</summary>
    public float[] Att { get; }
    public float[] Logits { get; }
    /// <summary>(layer, position, kv_dim)</summary>
    public float[] KeyCache { get; }
    public float[] ValueCache { get; }

    /// <summary>Bytes held by the key/value cache.</summary>
    public long KvCacheBytes => (KeyCache.LongLength + ValueCache.LongLength) * sizeof(float);

    /// <summary>The cache row of one layer at one position.</summary>
    public Span<float> Key(int layer, int pos) => KeyCache.AsSpan(CacheOffset(layer, pos), Config.KvDim);
    public Span<float> Value(int layer, int pos) => ValueCache.AsSpan(CacheOffset(layer, pos), Config.KvDim);

    int CacheOffset(int layer, int pos) => checked((layer * Config.SeqLen + pos) * Config.KvDim);
}

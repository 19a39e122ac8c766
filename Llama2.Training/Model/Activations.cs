using Llama2.Engine.Inference;
using Llama2.Engine.Model;
using Llama2.Training.Layers;

namespace Llama2.Training.Model;

/// <summary>
/// What the forward pass keeps for the backward pass, per layer, for a batch of up to <see cref="Sequences"/>
/// sequences of seq_len tokens (rows are tokens), and the backward pass's scratch, shared by the layers. Allocated
/// once: a training step allocates nothing.
/// </summary>
internal sealed class Activations
{
    public Activations(ModelConfig c, int sequences)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(sequences);
        Sequences = sequences;
        Tokens = checked(sequences * c.SeqLen);
        int n = Tokens, layers = c.NLayers;
        long dim = (long)n * c.Dim, kv = (long)n * c.KvDim, hidden = (long)n * c.HiddenDim;
        var attention = new Attention.Shape(sequences, c.SeqLen, c.NHeads, c.NKvHeads, c.HeadSize);

        Residual = PerLayer(layers + 1, dim);
        AttentionNorm = PerLayer(layers, dim);
        AttentionRstd = PerLayer(layers, n);
        Q = PerLayer(layers, dim);
        K = PerLayer(layers, kv);
        V = PerLayer(layers, kv);
        Probabilities = PerLayer(layers, attention.ProbabilityCount);
        AttentionOutput = PerLayer(layers, dim);
        Middle = PerLayer(layers, dim);
        FeedForwardNorm = PerLayer(layers, dim);
        FeedForwardRstd = PerLayer(layers, n);
        H1 = PerLayer(layers, hidden);
        H3 = PerLayer(layers, hidden);
        Gate = PerLayer(layers, hidden);
        Sigmoid = PerLayer(layers, hidden);
        FinalNorm = Floats(dim);
        FinalRstd = Floats(n);

        DResidual = Floats(dim);
        DNorm = Floats(dim);
        DAttentionOutput = Floats(dim);
        DQ = Floats(dim);
        DK = Floats(kv);
        DV = Floats(kv);
        DH1 = Floats(hidden);
        DH3 = Floats(hidden);
        AttentionScratch = Floats(Math.Max(attention.ForwardScratch, attention.BackwardScratch));
        Losses = Floats(n);
        // The classifier's logits for a chunk of rows at a time: at most 4 Mi floats unless that is under 256 rows.
        LogitRows = Math.Min(n, Math.Max(256, (1 << 22) / c.VocabSize));
        Logits = Floats((long)LogitRows * c.VocabSize);
    }

    public int Sequences { get; }
    public int Tokens { get; }
    public int LogitRows { get; }

    /// <summary>The residual stream entering each layer; [layers] is the last layer's output.</summary>
    public AlignedFloats[] Residual { get; }
    public AlignedFloats[] AttentionNorm { get; }
    public AlignedFloats[] AttentionRstd { get; }
    /// <summary>Queries and keys after the rotary embedding, and values.</summary>
    public AlignedFloats[] Q { get; }
    public AlignedFloats[] K { get; }
    public AlignedFloats[] V { get; }
    public AlignedFloats[] Probabilities { get; }
    public AlignedFloats[] AttentionOutput { get; }
    /// <summary>The residual stream after attention (the feed-forward's input).</summary>
    public AlignedFloats[] Middle { get; }
    public AlignedFloats[] FeedForwardNorm { get; }
    public AlignedFloats[] FeedForwardRstd { get; }
    public AlignedFloats[] H1 { get; }
    public AlignedFloats[] H3 { get; }
    /// <summary>silu(h1) ⊙ h3, the input of W2.</summary>
    public AlignedFloats[] Gate { get; }
    /// <summary>σ(h1), for SwiGLU's backward pass.</summary>
    public AlignedFloats[] Sigmoid { get; }
    public AlignedFloats FinalNorm { get; }
    public AlignedFloats FinalRstd { get; }

    /// <summary>The gradient of the residual stream, carried down through the layers.</summary>
    public AlignedFloats DResidual { get; }
    /// <summary>The gradient of a norm's output (also of the final norm's).</summary>
    public AlignedFloats DNorm { get; }
    public AlignedFloats DAttentionOutput { get; }
    public AlignedFloats DQ { get; }
    public AlignedFloats DK { get; }
    public AlignedFloats DV { get; }
    public AlignedFloats DH1 { get; }
    public AlignedFloats DH3 { get; }
    public AlignedFloats AttentionScratch { get; }
    public AlignedFloats Losses { get; }
    public AlignedFloats Logits { get; }

    static AlignedFloats Floats(long length) => new(checked((int)length));

    static AlignedFloats[] PerLayer(int count, long length)
    {
        var buffers = new AlignedFloats[count];
        for (int i = 0; i < count; i++) buffers[i] = Floats(length);
        return buffers;
    }
}

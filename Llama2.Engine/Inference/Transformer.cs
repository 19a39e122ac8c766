using Llama2.Engine.Kernels;
using Llama2.Engine.Model;

namespace Llama2.Engine.Inference;

/// <summary>
/// The Llama 2 forward pass, step by step as in llama2.c's run.c: tokens at positions in, logits for the next token
/// out. The weights are read-only and shared; each sequence brings its own <see cref="RunState"/>.
/// <para>
/// Decoding feeds one token (<see cref="Forward"/>); a prompt goes through as a batch (<see cref="Prefill"/>), every
/// weight matrix then multiplying all its tokens at once. Both run the same code below, and the kernels compute each
/// output the same way whatever the batch, so the logits are bit for bit the same either way.
/// </para>
/// </summary>
public sealed class Transformer
{
    readonly TransformerWeights _w;
    readonly RotaryEmbedding _rope;

    public Transformer(Checkpoint checkpoint)
    {
        Config = checkpoint.Config;
        _w = checkpoint.Weights;
        _rope = new RotaryEmbedding(Config.HeadSize, Config.SeqLen);
    }

    public ModelConfig Config { get; }

    public RunState CreateState() => new(Config);

    /// <summary>Feeds <paramref name="token"/> at position <paramref name="pos"/>; returns the logits (in the state).</summary>
    public Span<float> Forward(int token, int pos, RunState s)
    {
        if ((uint)token >= (uint)Config.VocabSize) throw new ArgumentOutOfRangeException(nameof(token), token, $"token id must be in 0..{Config.VocabSize - 1}");
        CheckPositions(pos, 1);
        Layers([token], pos, s.Step, s);
        return Classify(s.Step, 0, s);
    }

    /// <summary>
    /// Feeds a run of tokens at positions startPos, startPos + 1, … (a prompt) in batches, filling the key/value cache
    /// for all of them; returns the logits after the last one. The same as calling <see cref="Forward"/> for each.
    /// </summary>
    public Span<float> Prefill(ReadOnlySpan<int> tokens, int startPos, RunState s)
    {
        if (tokens.IsEmpty) throw new ArgumentException("no tokens to feed", nameof(tokens));
        CheckPositions(startPos, tokens.Length);
        if (tokens.Length == 1) return Forward(tokens[0], startPos, s);
        var batch = s.Batch;
        int done = 0;
        while (true)
        {
            int count = Math.Min(batch.Capacity, tokens.Length - done);
            Layers(tokens.Slice(done, count), startPos + done, batch, s);
            done += count;
            if (done == tokens.Length) return Classify(batch, count - 1, s);
        }
    }

    /// <summary>
    /// Runs tokens at positions pos, pos + 1, … through every layer: afterwards a.X holds their residual streams and
    /// the cache holds their keys and values.
    /// </summary>
    void Layers(ReadOnlySpan<int> tokens, int pos, Activations a, RunState s)
    {
        var c = Config;
        int n = tokens.Length, dim = c.Dim, kvDim = c.KvDim, hidden = c.HiddenDim;
        foreach (int token in tokens)
            if ((uint)token >= (uint)c.VocabSize) throw new ArgumentOutOfRangeException(nameof(tokens), token, $"token id must be in 0..{c.VocabSize - 1}");
        Span<float> x = a.X.AsSpan(0, n * dim), xb = a.Xb.AsSpan(0, n * dim), q = a.Q.AsSpan(0, n * dim);
        Span<float> hb = a.Hb.AsSpan(0, n * hidden);

        for (int t = 0; t < n; t++)
            _w.TokenEmbedding(tokens[t]).CopyTo(x.Slice(t * dim, dim));

        for (int l = 0; l < c.NLayers; l++)
        {
            // Attention: project to q, k, v (k and v straight into the cache rows of these positions), rotate q and k.
            for (int t = 0; t < n; t++)
                Ops.RmsNorm(xb.Slice(t * dim, dim), x.Slice(t * dim, dim), _w.RmsAtt(l));
            Span<float> k = s.Keys(l, pos, n), v = s.Values(l, pos, n);
            MatMul.Gemm3(xb, dim, n, _w.Wq(l), q, dim, _w.Wk(l), k, kvDim, _w.Wv(l), v, kvDim);
            for (int t = 0; t < n; t++)
            {
                _rope.Rotate(q.Slice(t * dim, dim), pos + t);
                _rope.Rotate(k.Slice(t * kvDim, kvDim), pos + t);
            }

            // Each position attends to the cache up to itself; the heads' outputs land in xb.
            Attention.Run(q, xb, s.Keys(l, 0, pos + n), s.Values(l, 0, pos + n), a.Att,
                pos, n, c.NHeads, c.NKvHeads, c.HeadSize, c.SeqLen);
            MatMul.GemmAdd(x, xb, _w.Wo(l), dim, dim, n); // x += wo · xb

            // Feed-forward: x += w2 · (silu(w1 · xb) ⊙ (w3 · xb))
            for (int t = 0; t < n; t++)
                Ops.RmsNorm(xb.Slice(t * dim, dim), x.Slice(t * dim, dim), _w.RmsFfn(l));
            MatMul.SwiGlu(hb, xb, _w.W1(l), _w.W3(l), dim, hidden, n);
            MatMul.GemmAdd(x, hb, _w.W2(l), hidden, dim, n);
        }
    }

    /// <summary>Final norm and classifier for one token of the batch: the logits for the next token.</summary>
    Span<float> Classify(Activations a, int t, RunState s)
    {
        var x = a.X.AsSpan(t * Config.Dim, Config.Dim);
        Ops.RmsNorm(x, x, _w.RmsFinal);
        MatMul.MatVec(s.Logits, x, _w.Classifier, Config.Dim, Config.VocabSize);
        return s.Logits;
    }

    void CheckPositions(int pos, int count)
    {
        if (pos < 0 || pos + count > Config.SeqLen)
            throw new ArgumentOutOfRangeException(nameof(pos), pos,
                count == 1 ? $"position must be in 0..{Config.SeqLen - 1}" : $"positions {pos}..{pos + count - 1} must be in 0..{Config.SeqLen - 1}");
    }
}

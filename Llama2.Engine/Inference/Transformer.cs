using Llama2.Engine.Formats;
using Llama2.Engine.Kernels;
using Llama2.Engine.Model;

namespace Llama2.Engine.Inference;

/// <summary>
/// The Llama 2 forward pass, step by step as in llama2.c's run.c: tokens at positions in, logits for the next token
/// out. The weights are read-only and shared; each sequence brings its own <see cref="RunState"/> (its KV cache).
/// <para>
/// Everything runs as a batch of rows (<see cref="TokenBatch"/>), each a token at a position of some sequence:
/// decoding one sequence is a batch of one (<see cref="Forward(int, int, RunState)"/>), a prompt goes through in
/// batches of its tokens (<see cref="Prefill"/>), and a scheduler steps all its sequences in one batch. Every weight
/// matrix then multiplies all rows at once, and the kernels compute each output the same way whatever the batch, so
/// a row's logits are bit for bit the same in any batch.
/// </para>
/// </summary>
public sealed unsafe class Transformer
{
    readonly TransformerWeights _w;
    readonly RotaryEmbedding _rope;

    public Transformer(Checkpoint checkpoint)
    {
        Config = checkpoint.Config;
        _w = checkpoint.Weights;
        _rope = new RotaryEmbedding(Config.HeadSize, Config.SeqLen, Config.RopeTheta);
        _summation = _w.Format == WeightFormat.Q8_0 ? Summation.InOrder : Summation.Vectorized;
        _halfSplitQueryKey = _w.QueryKeyLayout == RotaryLayout.HalfSplit;
    }

    // How the norms and attention add up their sums: runq.c's order for int8 weights (see Summation).
    readonly Summation _summation;
    // Wq and Wk in Hugging Face's row order: their outputs are put back in Meta's order before rotation.
    readonly bool _halfSplitQueryKey;

    public ModelConfig Config { get; }

    /// <summary>How the weight matrices are stored (fp32, bf16, fp16 or int8).</summary>
    public WeightFormat Format => _w.Format;

    /// <summary>A sequence's state: its KV cache for <paramref name="contextLength"/> positions (null = seq_len).</summary>
    public RunState CreateState(int? contextLength = null) => new(Config, contextLength);

    /// <summary>Feeds <paramref name="token"/> at position <paramref name="pos"/>; returns the logits (in the state).</summary>
    public Span<float> Forward(int token, int pos, RunState s)
    {
        var batch = s.Step;
        batch.Clear();
        batch.Add(s, token, pos, logits: true);
        Forward(batch);
        return batch.Logits(0);
    }

    /// <summary>
    /// Feeds a run of tokens at positions startPos, startPos + 1, … (a prompt) in batches, filling the key/value cache
    /// for all of them; returns the logits after the last one. The same as calling <see cref="Forward(int, int, RunState)"/> for each.
    /// </summary>
    public Span<float> Prefill(ReadOnlySpan<int> tokens, int startPos, RunState s)
    {
        if (tokens.IsEmpty) throw new ArgumentException("no tokens to feed", nameof(tokens));
        if (startPos < 0 || startPos + tokens.Length > s.ContextLength)
            throw new ArgumentOutOfRangeException(nameof(startPos), startPos,
                $"positions {startPos}..{startPos + tokens.Length - 1} must be in 0..{s.ContextLength - 1}");
        if (tokens.Length == 1) return Forward(tokens[0], startPos, s);
        var batch = s.Prefill;
        for (int done = 0; ; done += batch.Count)
        {
            int count = Math.Min(batch.Capacity, tokens.Length - done);
            batch.Clear();
            for (int i = 0; i < count; i++)
                batch.Add(s, tokens[done + i], startPos + done + i, logits: done + i == tokens.Length - 1);
            Forward(batch);
            if (done + count == tokens.Length) return batch.Logits(0);
        }
    }

    /// <summary>Runs every row of the batch through the model; afterwards <see cref="TokenBatch.Logits"/> holds the
    /// logits of the rows that asked for them, and each sequence's cache holds its rows' keys and values.</summary>
    public void Forward(TokenBatch batch)
    {
        if (batch.Config != Config) throw new ArgumentException("the batch was made for a model of another shape", nameof(batch));
        if (batch.Count == 0) return;
        Layers(batch);
        Classify(batch);
    }

    /// <summary>Runs the batch's rows through every layer: afterwards X holds their residual streams.</summary>
    void Layers(TokenBatch batch)
    {
        var c = Config;
        var a = batch.Activations;
        int n = batch.Count, dim = c.Dim, kvDim = c.KvDim, hidden = c.HiddenDim;
        Span<float> x = a.X.AsSpan(0, n * dim), xb = a.Xb.AsSpan(0, n * dim), q = a.Q.AsSpan(0, n * dim);
        Span<float> k = a.K.AsSpan(0, n * kvDim), v = a.V.AsSpan(0, n * kvDim), hb = a.Hb.AsSpan(0, n * hidden);

        for (int t = 0; t < n; t++)
            _w.Embed(batch.Token(t), x.Slice(t * dim, dim));

        for (int l = 0; l < c.NLayers; l++)
        {
            // Attention: project to q, k, v, rotate q and k by position, and append k and v to each sequence's cache.
            for (int t = 0; t < n; t++)
                Ops.RmsNorm(xb.Slice(t * dim, dim), x.Slice(t * dim, dim), _w.RmsAtt(l), _summation, c.RmsNormEps);
            MatMul.Gemm3(xb, n, _w.Wq(l), q, _w.Wk(l), k, _w.Wv(l), v, a.Quantized);
            for (int t = 0; t < n; t++)
            {
                var sequence = batch.Sequence(t);
                int pos = batch.Position(t);
                if (_halfSplitQueryKey)
                {
                    _rope.Interleave(q.Slice(t * dim, dim));
                    _rope.Interleave(k.Slice(t * kvDim, kvDim));
                }
                _rope.Rotate(q.Slice(t * dim, dim), pos);
                _rope.Rotate(k.Slice(t * kvDim, kvDim), pos);
                k.Slice(t * kvDim, kvDim).CopyTo(sequence.Key(l, pos));
                v.Slice(t * kvDim, kvDim).CopyTo(sequence.Value(l, pos));
                a.Views[t] = new KvView(sequence.KeyRows(l), sequence.ValueRows(l), pos + 1);
            }

            // Each token attends to its own sequence's cache up to its position; the heads' outputs land in xb.
            Attention.Run(q, xb, a.Att, a.Views.AsSpan(0, n), c.NHeads, c.NKvHeads, c.HeadSize, c.SeqLen, _summation);
            MatMul.GemmAdd(x, xb, _w.Wo(l), n, a.Quantized); // x += wo · xb

            // Feed-forward: x += w2 · (silu(w1 · xb) ⊙ (w3 · xb))
            for (int t = 0; t < n; t++)
                Ops.RmsNorm(xb.Slice(t * dim, dim), x.Slice(t * dim, dim), _w.RmsFfn(l), _summation, c.RmsNormEps);
            MatMul.SwiGlu(hb, xb, _w.W1(l), _w.W3(l), n, a.Quantized);
            MatMul.GemmAdd(x, hb, _w.W2(l), n, a.Quantized);
        }
    }

    /// <summary>Final norm and classifier for the rows that asked for logits, all in one pass over the classifier.</summary>
    void Classify(TokenBatch batch)
    {
        int m = batch.LogitsCount, dim = Config.Dim;
        if (m == 0) return;
        var a = batch.Activations;
        var xb = a.Xb.AsSpan(0, m * dim);
        for (int i = 0; i < m; i++)
            Ops.RmsNorm(xb.Slice(i * dim, dim), a.X.AsSpan(batch.LogitsRow(i) * dim, dim), _w.RmsFinal, _summation, Config.RmsNormEps);
        MatMul.Gemm(batch.AllLogits, xb, _w.Classifier, m, a.Quantized);
    }
}

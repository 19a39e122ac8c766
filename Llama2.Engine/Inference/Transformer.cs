using System.Numerics.Tensors;
using Llama2.Engine.Kernels;
using Llama2.Engine.Model;

namespace Llama2.Engine.Inference;

/// <summary>
/// The Llama 2 forward pass, step by step as in llama2.c's run.c: one token at one position in, logits for the next
/// token out. The weights are read-only and shared; each sequence brings its own <see cref="RunState"/>.
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
        var c = Config;
        if ((uint)token >= (uint)c.VocabSize) throw new ArgumentOutOfRangeException(nameof(token), token, $"token id must be in 0..{c.VocabSize - 1}");
        if ((uint)pos >= (uint)c.SeqLen) throw new ArgumentOutOfRangeException(nameof(pos), pos, $"position must be in 0..{c.SeqLen - 1}");
        int dim = c.Dim, kvDim = c.KvDim, hidden = c.HiddenDim, headSize = c.HeadSize;
        Span<float> x = s.X, xb = s.Xb, xb2 = s.Xb2, hb = s.Hb, hb2 = s.Hb2, q = s.Q;

        _w.TokenEmbedding(token).CopyTo(x);

        for (int l = 0; l < c.NLayers; l++)
        {
            // Attention: project to q, k, v (k and v straight into this position's cache row), rotate q and k.
            Ops.RmsNorm(xb, x, _w.RmsAtt(l));
            var k = s.Key(l, pos);
            var v = s.Value(l, pos);
            MatMul.MatVec(q, xb, _w.Wq(l), dim, dim);
            MatMul.MatVec(k, xb, _w.Wk(l), dim, kvDim);
            MatMul.MatVec(v, xb, _w.Wv(l), dim, kvDim);
            _rope.Rotate(q, pos);
            _rope.Rotate(k, pos);

            Attention(l, pos, s);
            MatMul.MatVec(xb2, xb, _w.Wo(l), dim, dim);
            TensorPrimitives.Add(x, xb2, x);

            // Feed-forward: w2 · (silu(w1 · x) ⊙ (w3 · x))
            Ops.RmsNorm(xb, x, _w.RmsFfn(l));
            MatMul.MatVec(hb, xb, _w.W1(l), dim, hidden);
            MatMul.MatVec(hb2, xb, _w.W3(l), dim, hidden);
            Ops.SwiGlu(hb, hb2);
            MatMul.MatVec(xb, hb, _w.W2(l), hidden, dim);
            TensorPrimitives.Add(x, xb, x);
        }

        Ops.RmsNorm(x, x, _w.RmsFinal);
        MatMul.MatVec(s.Logits, x, _w.Classifier, dim, c.VocabSize);
        return s.Logits;

        void Attention(int layer, int position, RunState state)
        {
            float scale = 1f / MathF.Sqrt(headSize);
            for (int h = 0; h < c.NHeads; h++)
            {
                var qh = state.Q.AsSpan(h * headSize, headSize);
                var att = state.Att.AsSpan(h * c.SeqLen, position + 1);
                int kvOffset = h / c.KvMul * headSize;
                for (int t = 0; t <= position; t++)
                    att[t] = TensorPrimitives.Dot(qh, state.Key(layer, t).Slice(kvOffset, headSize)) * scale;
                Ops.Softmax(att);

                var out_ = state.Xb.AsSpan(h * headSize, headSize);
                out_.Clear();
                for (int t = 0; t <= position; t++)
                    TensorPrimitives.MultiplyAdd(state.Value(layer, t).Slice(kvOffset, headSize), att[t], out_, out_);
            }
        }
    }
}

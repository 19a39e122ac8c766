using Llama2.Engine.Inference;
using Llama2.Engine.Model;
using Llama2.Training.Layers;

namespace Llama2.Training.Model;

/// <summary>
/// A Llama 2 model being trained (llama2.c's model.py, dropout 0): its parameters and their gradients in two flat
/// buffers (<see cref="ParameterLayout"/>), the forward pass over a batch of sequences, and the backward pass written
/// out layer by layer beside it, in the manner of llm.c's train_gpt2.c.
/// <para>
/// A step is <see cref="ForwardBackward"/>: embedding, the layers (RMSNorm, q/k/v, RoPE, causal grouped-query
/// attention, output projection, RMSNorm, SwiGLU feed-forward, each added to the residual stream), final RMSNorm, and
/// the tied classifier with the cross-entropy loss; then the same in reverse, adding each parameter's gradient into
/// <see cref="Gradients"/> (so micro-batches accumulate until <see cref="ZeroGradients"/>).
/// </para>
/// <para>
/// Deterministic: every kernel sums in a fixed order and splits its work across threads only by outputs, so a step
/// gives the same bits on any number of threads, and a resumed run repeats an uninterrupted one exactly.
/// </para>
/// </summary>
public sealed class TrainingModel
{
    readonly AlignedFloats _parameters, _gradients;
    readonly TransposedWeights _transposed;
    readonly Activations _a;
    readonly Rope _rope;

    /// <param name="config">The shape (classifier shared with the embedding).</param>
    /// <param name="sequences">The most sequences of seq_len tokens one pass takes (the micro-batch size).</param>
    public TrainingModel(ModelConfig config, int sequences)
    {
        Layout = new ParameterLayout(config);
        Config = config;
        int count = checked((int)Layout.Count);
        _parameters = new AlignedFloats(count);
        _gradients = new AlignedFloats(count);
        _transposed = new TransposedWeights(Layout);
        _a = new Activations(config, sequences);
        _rope = new Rope(config.HeadSize, config.SeqLen);
        ParametersChanged();
    }

    public ModelConfig Config { get; }
    public ParameterLayout Layout { get; }
    /// <summary>The most sequences one pass takes.</summary>
    public int MaxSequences => _a.Sequences;

    /// <summary>All parameters, in <see cref="Layout"/>'s order. Call <see cref="ParametersChanged"/> after writing them.</summary>
    public Span<float> Parameters => _parameters.AsSpan(0, _parameters.Length);
    /// <summary>The gradients accumulated since <see cref="ZeroGradients"/>, laid out as the parameters.</summary>
    public Span<float> Gradients => _gradients.AsSpan(0, _gradients.Length);

    /// <summary>model.py's initialisation: every weight matrix and the embedding normal(0, 0.02), except wo and w3 normal(0, 0.02 / √(2 · layers)); RMSNorm gains 1.</summary>
    public void Initialize(ref TrainingRandom random)
    {
        var p = Parameters;
        float scaledStd = 0.02f / MathF.Sqrt(2 * Config.NLayers);
        foreach (var tensor in Layout.Tensors)
        {
            var view = p.Slice((int)Layout.Offset(tensor), (int)Layout.ElementCount(tensor));
            if (tensor is TensorKind.RmsAtt or TensorKind.RmsFfn or TensorKind.RmsFinal)
            {
                view.Fill(1f);
                continue;
            }
            double std = tensor is TensorKind.Wo or TensorKind.W3 ? scaledStd : 0.02;
            for (int i = 0; i < view.Length; i++) view[i] = (float)(std * random.NextGaussian());
        }
        ParametersChanged();
    }

    /// <summary>Refreshes what the forward pass derives from the parameters (the transposed weights).</summary>
    public void ParametersChanged() => _transposed.Refresh(Parameters);

    public void ZeroGradients() => Gradients.Clear();

    /// <summary>
    /// Forward and backward over <paramref name="sequences"/> sequences of <paramref name="seqLen"/> tokens (inputs and
    /// targets row-major, sequences × seqLen): adds ∂(weight · mean loss)/∂parameters to <see cref="Gradients"/> and
    /// returns the mean loss. weight = 1 / (micro-batches accumulated) averages over them.
    /// </summary>
    public float ForwardBackward(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int sequences, int seqLen, float weight = 1f)
    {
        int n = CheckBatch(inputs, targets, sequences, seqLen);
        ForwardLayers(inputs, sequences, seqLen);
        float loss = Head(targets, n, weight / n);
        BackwardLayers(inputs, sequences, seqLen);
        return loss;
    }

    /// <summary>The mean loss of a batch, forward only (validation).</summary>
    public float Loss(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int sequences, int seqLen)
    {
        int n = CheckBatch(inputs, targets, sequences, seqLen);
        ForwardLayers(inputs, sequences, seqLen);
        return Head(targets, n, gradientScale: null);
    }

    /// <summary>logits (sequences × seqLen × vocab) of every position of the sequences.</summary>
    public void Logits(ReadOnlySpan<int> inputs, int sequences, int seqLen, Span<float> logits)
    {
        int n = CheckBatch(inputs, inputs, sequences, seqLen);
        if (logits.Length < (long)n * Config.VocabSize) throw new ArgumentException("logits buffer too short", nameof(logits));
        ForwardLayers(inputs, sequences, seqLen);
        Linear.Forward(logits, All(_a.FinalNorm), _transposed.View(TensorKind.TokenEmbedding), n, Config.Dim, Config.VocabSize);
    }

    int CheckBatch(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int sequences, int seqLen)
    {
        if (sequences <= 0 || sequences > _a.Sequences)
            throw new ArgumentOutOfRangeException(nameof(sequences), sequences, $"a pass takes 1..{_a.Sequences} sequences");
        if (seqLen <= 0 || seqLen > Config.SeqLen)
            throw new ArgumentOutOfRangeException(nameof(seqLen), seqLen, $"sequences are 1..{Config.SeqLen} tokens");
        int n = sequences * seqLen;
        if (inputs.Length != n || targets.Length != n) throw new ArgumentException($"expected {n} input and target tokens");
        return n;
    }

    static Span<float> All(AlignedFloats buffer) => buffer.AsSpan(0, buffer.Length);

    ReadOnlySpan<float> W(TensorKind tensor, int layer = 0) => Layout.View((ReadOnlySpan<float>)Parameters, tensor, layer);
    Span<float> G(TensorKind tensor, int layer = 0) => Layout.View(Gradients, tensor, layer);
    ReadOnlySpan<float> WT(TensorKind tensor, int layer) => _transposed.View(tensor, layer);

    void ForwardLayers(ReadOnlySpan<int> inputs, int sequences, int seqLen)
    {
        var c = Config;
        var a = _a;
        int n = sequences * seqLen, dim = c.Dim, kvDim = c.KvDim, hidden = c.HiddenDim;
        var attention = new Attention.Shape(sequences, seqLen, c.NHeads, c.NKvHeads, c.HeadSize);
        Embedding.Forward(All(a.Residual[0]), W(TensorKind.TokenEmbedding), inputs, dim);
        for (int l = 0; l < c.NLayers; l++)
        {
            var x = All(a.Residual[l]);
            var xn = All(a.AttentionNorm[l]);
            RmsNorm.Forward(xn, All(a.AttentionRstd[l]), x, W(TensorKind.RmsAtt, l), n, dim);
            Linear.Forward(All(a.Q[l]), xn, WT(TensorKind.Wq, l), n, dim, dim);
            Linear.Forward(All(a.K[l]), xn, WT(TensorKind.Wk, l), n, dim, kvDim);
            Linear.Forward(All(a.V[l]), xn, WT(TensorKind.Wv, l), n, dim, kvDim);
            _rope.Forward(All(a.Q[l]), n, dim, seqLen);
            _rope.Forward(All(a.K[l]), n, kvDim, seqLen);
            Attention.Forward(attention, All(a.Q[l]), All(a.K[l]), All(a.V[l]), All(a.AttentionOutput[l]), All(a.Probabilities[l]), All(a.AttentionScratch));
            var middle = All(a.Middle[l]);
            x[..(n * dim)].CopyTo(middle);
            Linear.Forward(middle, All(a.AttentionOutput[l]), WT(TensorKind.Wo, l), n, dim, dim, accumulate: true);

            var fn = All(a.FeedForwardNorm[l]);
            RmsNorm.Forward(fn, All(a.FeedForwardRstd[l]), middle, W(TensorKind.RmsFfn, l), n, dim);
            Linear.Forward(All(a.H1[l]), fn, WT(TensorKind.W1, l), n, dim, hidden);
            Linear.Forward(All(a.H3[l]), fn, WT(TensorKind.W3, l), n, dim, hidden);
            SwiGlu.Forward(All(a.Gate[l]), All(a.Sigmoid[l]), All(a.H1[l]), All(a.H3[l]), n, hidden);
            var next = All(a.Residual[l + 1]);
            middle[..(n * dim)].CopyTo(next);
            Linear.Forward(next, All(a.Gate[l]), WT(TensorKind.W2, l), n, hidden, dim, accumulate: true);
        }
        RmsNorm.Forward(All(a.FinalNorm), All(a.FinalRstd), All(a.Residual[c.NLayers]), W(TensorKind.RmsFinal), n, dim);
    }

    /// <summary>
    /// The tied classifier and the loss, a chunk of rows at a time (the logits of a whole batch never exist at once).
    /// With a gradient scale, also its backward pass: the classifier's share of the embedding's gradient, and
    /// ∂L/∂(final norm's output) into DNorm.
    /// </summary>
    float Head(ReadOnlySpan<int> targets, int n, float? gradientScale)
    {
        var a = _a;
        int dim = Config.Dim, vocab = Config.VocabSize;
        var embeddingT = _transposed.View(TensorKind.TokenEmbedding);
        var xf = All(a.FinalNorm);
        var losses = All(a.Losses);
        for (int r0 = 0; r0 < n; r0 += a.LogitRows)
        {
            int rows = Math.Min(a.LogitRows, n - r0);
            var logits = All(a.Logits);
            var x = xf.Slice(r0 * dim, rows * dim);
            Linear.Forward(logits, x, embeddingT, rows, dim, vocab);
            CrossEntropy.Run(logits, targets.Slice(r0, rows), losses[r0..], rows, vocab, gradientScale);
            if (gradientScale is null) continue;
            Linear.BackwardWeight(G(TensorKind.TokenEmbedding), logits, x, rows, dim, vocab);
            Linear.BackwardInput(All(a.DNorm).Slice(r0 * dim, rows * dim), logits, W(TensorKind.TokenEmbedding), rows, dim, vocab, accumulate: false);
        }
        double sum = 0;
        for (int i = 0; i < n; i++) sum += losses[i];
        return (float)(sum / n);
    }

    void BackwardLayers(ReadOnlySpan<int> inputs, int sequences, int seqLen)
    {
        var c = Config;
        var a = _a;
        int n = sequences * seqLen, dim = c.Dim, kvDim = c.KvDim, hidden = c.HiddenDim;
        var attention = new Attention.Shape(sequences, seqLen, c.NHeads, c.NKvHeads, c.HeadSize);
        var dx = All(a.DResidual)[..(n * dim)];
        var dNorm = All(a.DNorm);
        dx.Clear();
        RmsNorm.Backward(dx, G(TensorKind.RmsFinal), dNorm, All(a.Residual[c.NLayers]), W(TensorKind.RmsFinal), All(a.FinalRstd), n, dim);

        for (int l = c.NLayers - 1; l >= 0; l--)
        {
            // Feed-forward: x_next = middle + W2 · gate, gate = silu(W1 · fn) ⊙ (W3 · fn), fn = RMSNorm(middle).
            var fn = All(a.FeedForwardNorm[l]);
            var dh1 = All(a.DH1);
            var dh3 = All(a.DH3);
            Linear.BackwardWeight(G(TensorKind.W2, l), dx, All(a.Gate[l]), n, hidden, dim);
            Linear.BackwardInput(dh1, dx, W(TensorKind.W2, l), n, hidden, dim, accumulate: false); // d(gate)
            SwiGlu.Backward(dh1, dh3, dh1, All(a.H1[l]), All(a.H3[l]), All(a.Sigmoid[l]), n, hidden);
            Linear.BackwardWeight(G(TensorKind.W1, l), dh1, fn, n, dim, hidden);
            Linear.BackwardWeight(G(TensorKind.W3, l), dh3, fn, n, dim, hidden);
            Linear.BackwardInput(dNorm, dh1, W(TensorKind.W1, l), n, dim, hidden, accumulate: false);
            Linear.BackwardInput(dNorm, dh3, W(TensorKind.W3, l), n, dim, hidden, accumulate: true);
            RmsNorm.Backward(dx, G(TensorKind.RmsFfn, l), dNorm, All(a.Middle[l]), W(TensorKind.RmsFfn, l), All(a.FeedForwardRstd[l]), n, dim);

            // Attention: middle = x + Wo · attention(RoPE(Wq · xn), RoPE(Wk · xn), Wv · xn), xn = RMSNorm(x).
            var xn = All(a.AttentionNorm[l]);
            var dOut = All(a.DAttentionOutput);
            var dq = All(a.DQ);
            var dk = All(a.DK);
            var dv = All(a.DV);
            Linear.BackwardWeight(G(TensorKind.Wo, l), dx, All(a.AttentionOutput[l]), n, dim, dim);
            Linear.BackwardInput(dOut, dx, W(TensorKind.Wo, l), n, dim, dim, accumulate: false);
            Attention.Backward(attention, dOut, All(a.Q[l]), All(a.K[l]), All(a.V[l]), All(a.Probabilities[l]), dq, dk, dv, All(a.AttentionScratch));
            _rope.Backward(dq, n, dim, seqLen);
            _rope.Backward(dk, n, kvDim, seqLen);
            Linear.BackwardWeight(G(TensorKind.Wq, l), dq, xn, n, dim, dim);
            Linear.BackwardWeight(G(TensorKind.Wk, l), dk, xn, n, dim, kvDim);
            Linear.BackwardWeight(G(TensorKind.Wv, l), dv, xn, n, dim, kvDim);
            Linear.BackwardInput(dNorm, dq, W(TensorKind.Wq, l), n, dim, dim, accumulate: false);
            Linear.BackwardInput(dNorm, dk, W(TensorKind.Wk, l), n, dim, kvDim, accumulate: true);
            Linear.BackwardInput(dNorm, dv, W(TensorKind.Wv, l), n, dim, kvDim, accumulate: true);
            RmsNorm.Backward(dx, G(TensorKind.RmsAtt, l), dNorm, All(a.Residual[l]), W(TensorKind.RmsAtt, l), All(a.AttentionRstd[l]), n, dim);
        }
        Embedding.Backward(G(TensorKind.TokenEmbedding), dx, inputs, dim);
    }
}

namespace Llama2.Training.Tests.Reference;

/// <summary>model.py's Transformer in double precision over <see cref="ReferenceOps"/>, on a flat parameter vector in the trainer's layout.</summary>
sealed class ReferenceModel(ModelConfig config)
{
    readonly ParameterLayout _layout = new(config);

    double[] Tensor(double[] p, TensorKind tensor, int layer = 0)
    {
        int size = _layout.LayerSize(tensor);
        return p.AsSpan((int)(_layout.Offset(tensor) + (long)layer * size), size).ToArray();
    }

    /// <summary>Logits (sequences × seqLen × vocab).</summary>
    public double[] Logits(double[] p, int[] inputs, int sequences, int seqLen)
    {
        var c = config;
        int n = sequences * seqLen, dim = c.Dim, kvDim = c.KvDim, hidden = c.HiddenDim;
        var embedding = Tensor(p, TensorKind.TokenEmbedding);
        var x = new double[n * dim];
        for (int t = 0; t < n; t++) Array.Copy(embedding, inputs[t] * dim, x, t * dim, dim);
        for (int l = 0; l < c.NLayers; l++)
        {
            var xn = ReferenceOps.RmsNorm(x, Tensor(p, TensorKind.RmsAtt, l), n, dim);
            var q = ReferenceOps.Rope(ReferenceOps.Linear(xn, Tensor(p, TensorKind.Wq, l), n, dim, dim), n, dim, c.HeadSize, seqLen);
            var k = ReferenceOps.Rope(ReferenceOps.Linear(xn, Tensor(p, TensorKind.Wk, l), n, dim, kvDim), n, kvDim, c.HeadSize, seqLen);
            var v = ReferenceOps.Linear(xn, Tensor(p, TensorKind.Wv, l), n, dim, kvDim);
            var o = ReferenceOps.Attention(q, k, v, sequences, seqLen, c.NHeads, c.NKvHeads, c.HeadSize);
            x = ReferenceOps.Add(x, ReferenceOps.Linear(o, Tensor(p, TensorKind.Wo, l), n, dim, dim));
            var fn = ReferenceOps.RmsNorm(x, Tensor(p, TensorKind.RmsFfn, l), n, dim);
            var g = ReferenceOps.SwiGlu(ReferenceOps.Linear(fn, Tensor(p, TensorKind.W1, l), n, dim, hidden),
                ReferenceOps.Linear(fn, Tensor(p, TensorKind.W3, l), n, dim, hidden));
            x = ReferenceOps.Add(x, ReferenceOps.Linear(g, Tensor(p, TensorKind.W2, l), n, hidden, dim));
        }
        x = ReferenceOps.RmsNorm(x, Tensor(p, TensorKind.RmsFinal), n, dim);
        return ReferenceOps.Linear(x, embedding, n, dim, c.VocabSize);
    }

    /// <summary>The mean cross-entropy of the batch.</summary>
    public double Loss(double[] p, int[] inputs, int[] targets, int sequences, int seqLen) =>
        ReferenceOps.CrossEntropy(Logits(p, inputs, sequences, seqLen), targets, config.VocabSize).Average();
}

namespace Llama2.Engine.Model;

/// <summary>
/// Views of the weights inside a mapped checkpoint, one span per matrix per layer. Matrices are row-major
/// (out × in), as llama2.c stores them.
/// </summary>
public sealed unsafe class TransformerWeights
{
    readonly ModelConfig _c;
    readonly float* _tokenEmbedding, _rmsAtt, _wq, _wk, _wv, _wo, _rmsFfn, _w1, _w2, _w3, _rmsFinal, _classifier;

    internal TransformerWeights(CheckpointLayout layout, byte* fileBase)
    {
        _c = layout.Config;
        float* At(TensorKind t) => (float*)(fileBase + layout.OffsetOf(t));
        _tokenEmbedding = At(TensorKind.TokenEmbedding);
        _rmsAtt = At(TensorKind.RmsAtt);
        _wq = At(TensorKind.Wq);
        _wk = At(TensorKind.Wk);
        _wv = At(TensorKind.Wv);
        _wo = At(TensorKind.Wo);
        _rmsFfn = At(TensorKind.RmsFfn);
        _w1 = At(TensorKind.W1);
        _w2 = At(TensorKind.W2);
        _w3 = At(TensorKind.W3);
        _rmsFinal = At(TensorKind.RmsFinal);
        _classifier = At(TensorKind.Classifier);
    }

    static ReadOnlySpan<float> Slice(float* tensor, int layer, int size) => new(tensor + (long)layer * size, size);

    public ReadOnlySpan<float> TokenEmbedding(int token) => Slice(_tokenEmbedding, token, _c.Dim);
    public ReadOnlySpan<float> RmsAtt(int layer) => Slice(_rmsAtt, layer, _c.Dim);
    public ReadOnlySpan<float> RmsFfn(int layer) => Slice(_rmsFfn, layer, _c.Dim);
    public ReadOnlySpan<float> RmsFinal => new(_rmsFinal, _c.Dim);
    /// <summary>(dim × dim)</summary>
    public ReadOnlySpan<float> Wq(int layer) => Slice(_wq, layer, _c.Dim * _c.Dim);
    /// <summary>(kv_dim × dim)</summary>
    public ReadOnlySpan<float> Wk(int layer) => Slice(_wk, layer, _c.KvDim * _c.Dim);
    /// <summary>(kv_dim × dim)</summary>
    public ReadOnlySpan<float> Wv(int layer) => Slice(_wv, layer, _c.KvDim * _c.Dim);
    /// <summary>(dim × dim)</summary>
    public ReadOnlySpan<float> Wo(int layer) => Slice(_wo, layer, _c.Dim * _c.Dim);
    /// <summary>(hidden × dim)</summary>
    public ReadOnlySpan<float> W1(int layer) => Slice(_w1, layer, _c.HiddenDim * _c.Dim);
    /// <summary>(dim × hidden)</summary>
    public ReadOnlySpan<float> W2(int layer) => Slice(_w2, layer, _c.Dim * _c.HiddenDim);
    /// <summary>(hidden × dim)</summary>
    public ReadOnlySpan<float> W3(int layer) => Slice(_w3, layer, _c.HiddenDim * _c.Dim);
    /// <summary>(vocab × dim)</summary>
    public ReadOnlySpan<float> Classifier => new(_classifier, checked(_c.VocabSize * _c.Dim));
}

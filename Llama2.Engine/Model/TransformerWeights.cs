using Llama2.Engine.Kernels;

namespace Llama2.Engine.Model;

/// <summary>
/// Views of the weights inside a checkpoint's bytes (a mapped file, or a version 2 image quantized in memory): the
/// norms as spans, each matrix per layer as a <see cref="WeightMatrix"/> in the checkpoint's format. Matrices are
/// row-major (out × in), as llama2.c stores them.
/// </summary>
public sealed unsafe class TransformerWeights
{
    readonly ModelConfig _c;
    readonly CheckpointLayout _layout;
    readonly byte* _base;

    internal TransformerWeights(CheckpointLayout layout, byte* checkpointBase)
    {
        _c = layout.Config;
        _layout = layout;
        _base = checkpointBase;
    }

    /// <summary>How the matrices and the embedding are stored.</summary>
    public WeightFormat Format => _layout.Format;

    /// <summary>Weights per scale of the Q8_0 matrices; 0 for fp32.</summary>
    public int GroupSize => _layout.GroupSize;

    ReadOnlySpan<float> Norm(TensorKind tensor, int layer) => new(_base + _layout.OffsetOf(tensor, layer), _c.Dim);

    WeightMatrix Matrix(TensorKind tensor, int layer, int rows, int columns)
    {
        byte* values = _base + _layout.OffsetOf(tensor, layer);
        return _layout.IsQuantized(tensor)
            ? WeightMatrix.Q8_0((sbyte*)values, (float*)(_base + _layout.ScalesOffsetOf(tensor, layer)), rows, columns, _layout.GroupSize)
            : WeightMatrix.F32((float*)values, rows, columns);
    }

    public ReadOnlySpan<float> RmsAtt(int layer) => Norm(TensorKind.RmsAtt, layer);
    public ReadOnlySpan<float> RmsFfn(int layer) => Norm(TensorKind.RmsFfn, layer);
    public ReadOnlySpan<float> RmsFinal => Norm(TensorKind.RmsFinal, 0);
    /// <summary>(vocab × dim)</summary>
    public WeightMatrix TokenEmbedding => Matrix(TensorKind.TokenEmbedding, 0, _c.VocabSize, _c.Dim);
    /// <summary>(dim × dim)</summary>
    public WeightMatrix Wq(int layer) => Matrix(TensorKind.Wq, layer, _c.Dim, _c.Dim);
    /// <summary>(kv_dim × dim)</summary>
    public WeightMatrix Wk(int layer) => Matrix(TensorKind.Wk, layer, _c.KvDim, _c.Dim);
    /// <summary>(kv_dim × dim)</summary>
    public WeightMatrix Wv(int layer) => Matrix(TensorKind.Wv, layer, _c.KvDim, _c.Dim);
    /// <summary>(dim × dim)</summary>
    public WeightMatrix Wo(int layer) => Matrix(TensorKind.Wo, layer, _c.Dim, _c.Dim);
    /// <summary>(hidden × dim)</summary>
    public WeightMatrix W1(int layer) => Matrix(TensorKind.W1, layer, _c.HiddenDim, _c.Dim);
    /// <summary>(dim × hidden)</summary>
    public WeightMatrix W2(int layer) => Matrix(TensorKind.W2, layer, _c.Dim, _c.HiddenDim);
    /// <summary>(hidden × dim)</summary>
    public WeightMatrix W3(int layer) => Matrix(TensorKind.W3, layer, _c.HiddenDim, _c.Dim);
    /// <summary>(vocab × dim); the embedding itself when shared.</summary>
    public WeightMatrix Classifier => Matrix(TensorKind.Classifier, 0, _c.VocabSize, _c.Dim);

    /// <summary>
    /// The embedding of <paramref name="token"/> into <paramref name="x"/> (dim floats): copied, or dequantized
    /// (value × scale) from a Q8_0 embedding, one row per token rather than the whole table at load as runq.c does,
    /// with the same bits.
    /// </summary>
    public void Embed(int token, Span<float> x) => TokenEmbedding.ReadRow(token, x);
}

using Llama2.Engine.Formats;
using Llama2.Engine.Kernels;

namespace Llama2.Engine.Model;

/// <summary>
/// Views of a model's weights wherever they are (a mapped .bin, a version 2 image quantized in memory, the tensors of a
/// Hugging Face folder or a GGUF file): the norms as fp32 spans, each matrix per layer as a <see cref="WeightMatrix"/>
/// in its stored format. Matrices are row-major (out × in), as llama2.c stores them; the rows of Wq and Wk are in
/// <see cref="QueryKeyLayout"/>'s order.
/// </summary>
public sealed unsafe class TransformerWeights
{
    readonly ModelConfig _c;
    readonly WeightMatrix[][] _matrices; // by TensorKind, then layer (one for the embedding and the classifier)
    readonly nint[][] _norms;            // fp32, dim floats each

    /// <summary>
    /// The weights of a model: <paramref name="matrix"/> gives each (kind, layer)'s matrix, <paramref name="norm"/> the
    /// address of each norm's dim floats. They are asked for once, here.
    /// </summary>
    internal TransformerWeights(ModelConfig config, RotaryLayout queryKeyLayout,
        Func<TensorKind, int, WeightMatrix> matrix, Func<TensorKind, int, nint> norm)
    {
        _c = config;
        QueryKeyLayout = queryKeyLayout;
        int kinds = Enum.GetValues<TensorKind>().Length;
        _matrices = new WeightMatrix[kinds][];
        _norms = new nint[kinds][];
        foreach (var kind in ExternalModel.WeightKinds)
        {
            int layers = ExternalModel.IsPerLayer(kind) ? config.NLayers : 1;
            if (kind is TensorKind.RmsAtt or TensorKind.RmsFfn or TensorKind.RmsFinal)
            {
                _norms[(int)kind] = new nint[layers];
                for (int l = 0; l < layers; l++) _norms[(int)kind][l] = norm(kind, l);
                continue;
            }
            var shape = ExternalModel.ExpectedShape(config, kind);
            _matrices[(int)kind] = new WeightMatrix[layers];
            for (int l = 0; l < layers; l++)
            {
                var m = matrix(kind, l);
                if (m.Rows != shape[0] || m.Columns != shape[1])
                    throw new ArgumentException($"{kind} of layer {l} is {m.Rows} × {m.Columns}, not {shape[0]} × {shape[1]}");
                _matrices[(int)kind][l] = m;
            }
        }
    }

    /// <summary>The views of a llama2.c checkpoint's bytes (a mapped .bin, or a version 2 image).</summary>
    internal static TransformerWeights Of(CheckpointLayout layout, byte* checkpointBase) =>
        new(layout.Config, RotaryLayout.Interleaved,
            (kind, layer) =>
            {
                var shape = ExternalModel.ExpectedShape(layout.Config, kind);
                byte* values = checkpointBase + layout.OffsetOf(kind, layer);
                return layout.IsQuantized(kind)
                    ? WeightMatrix.Q8_0((sbyte*)values, (float*)(checkpointBase + layout.ScalesOffsetOf(kind, layer)), (int)shape[0], (int)shape[1], layout.GroupSize)
                    : WeightMatrix.F32((float*)values, (int)shape[0], (int)shape[1]);
            },
            (kind, layer) => (nint)(checkpointBase + layout.OffsetOf(kind, layer)));

    /// <summary>The model's shape and its RMSNorm ε and rotary base.</summary>
    public ModelConfig Config => _c;

    /// <summary>How the matrices are stored (the query matrix's format; the others' may differ in a GGUF file).</summary>
    public WeightFormat Format => Wq(0).Format;

    /// <summary>Weights per scale of the Q8_0 matrices; 0 for the float formats.</summary>
    public int GroupSize => Wq(0).GroupSize;

    /// <summary>The order of Wq's and Wk's rows within a head: Meta's (llama2.c, GGUF) or Hugging Face's.</summary>
    public RotaryLayout QueryKeyLayout { get; }

    ReadOnlySpan<float> Norm(TensorKind tensor, int layer) => new((void*)_norms[(int)tensor][layer], _c.Dim);
    WeightMatrix Matrix(TensorKind tensor, int layer) => _matrices[(int)tensor][layer];

    public ReadOnlySpan<float> RmsAtt(int layer) => Norm(TensorKind.RmsAtt, layer);
    public ReadOnlySpan<float> RmsFfn(int layer) => Norm(TensorKind.RmsFfn, layer);
    public ReadOnlySpan<float> RmsFinal => Norm(TensorKind.RmsFinal, 0);
    /// <summary>(vocab × dim)</summary>
    public WeightMatrix TokenEmbedding => Matrix(TensorKind.TokenEmbedding, 0);
    /// <summary>(dim × dim)</summary>
    public WeightMatrix Wq(int layer) => Matrix(TensorKind.Wq, layer);
    /// <summary>(kv_dim × dim)</summary>
    public WeightMatrix Wk(int layer) => Matrix(TensorKind.Wk, layer);
    /// <summary>(kv_dim × dim)</summary>
    public WeightMatrix Wv(int layer) => Matrix(TensorKind.Wv, layer);
    /// <summary>(dim × dim)</summary>
    public WeightMatrix Wo(int layer) => Matrix(TensorKind.Wo, layer);
    /// <summary>(hidden × dim)</summary>
    public WeightMatrix W1(int layer) => Matrix(TensorKind.W1, layer);
    /// <summary>(dim × hidden)</summary>
    public WeightMatrix W2(int layer) => Matrix(TensorKind.W2, layer);
    /// <summary>(hidden × dim)</summary>
    public WeightMatrix W3(int layer) => Matrix(TensorKind.W3, layer);
    /// <summary>(vocab × dim); the embedding itself when shared.</summary>
    public WeightMatrix Classifier => Matrix(TensorKind.Classifier, 0);

    /// <summary>A matrix or a norm by kind and layer (a norm as a one-row fp32 matrix).</summary>
    public WeightMatrix this[TensorKind kind, int layer] => kind is TensorKind.RmsAtt or TensorKind.RmsFfn or TensorKind.RmsFinal
        ? WeightMatrix.F32((float*)_norms[(int)kind][layer], 1, _c.Dim)
        : Matrix(kind, layer);

    /// <summary>
    /// Row <paramref name="row"/> of a matrix in Meta's interleaved order, as fp32: for Hugging Face's Wq and Wk the
    /// stored row that holds it (<see cref="RotaryLayouts.SourceRow"/>).
    /// </summary>
    public void ReadInterleavedRow(TensorKind kind, int layer, int row, Span<float> destination)
    {
        int stored = kind is TensorKind.Wq or TensorKind.Wk ? (int)QueryKeyLayout.SourceRow(row, _c.HeadSize) : row;
        this[kind, layer].ReadRow(stored, destination);
    }

    /// <summary>
    /// The embedding of <paramref name="token"/> into <paramref name="x"/> (dim floats): copied, widened (bf16, fp16) or
    /// dequantized (value × scale) from a Q8_0 embedding, one row per token rather than the whole table at load as
    /// runq.c does, with the same bits.
    /// </summary>
    public void Embed(int token, Span<float> x) => TokenEmbedding.ReadRow(token, x);
}

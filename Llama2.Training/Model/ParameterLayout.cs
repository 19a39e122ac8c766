using Llama2.Engine.Model;

namespace Llama2.Training.Model;

/// <summary>
/// Where each tensor lives in the trainer's one flat buffer of parameters (and the gradients' and the optimiser's,
/// laid out the same way): the order of a llama2.c version-1 checkpoint, the engine's <see cref="CheckpointLayout"/>
/// without its header. The norms' gains come first, then the 2-D weights from the token embedding on, so weight
/// decay covers one contiguous range. The classifier is the embedding (tied), as in model.py.
/// </summary>
public sealed class ParameterLayout
{
    readonly CheckpointLayout _file;

    public ParameterLayout(ModelConfig config)
    {
        if (!config.SharedClassifier) throw new ArgumentException("the trainer ties the classifier to the embedding (model.py's weight tying)", nameof(config));
        Config = config;
        _file = new CheckpointLayout(config, version: 1);
        Count = (_file.FileBytes - _file.HeaderBytes) / sizeof(float);
        DecayStart = Offset(TensorKind.TokenEmbedding);
    }

    public ModelConfig Config { get; }

    /// <summary>Floats in the buffer.</summary>
    public long Count { get; }

    /// <summary>Where the 2-D weights start; everything before is an RMSNorm gain (1-D, not decayed).</summary>
    public long DecayStart { get; }

    /// <summary>The tensors in buffer order.</summary>
    public IReadOnlyList<TensorKind> Tensors => _file.Order;

    /// <summary>Where a tensor (all its layers) starts in the buffer.</summary>
    public long Offset(TensorKind tensor) => (_file.OffsetOf(tensor) - _file.HeaderBytes) / sizeof(float);

    /// <summary>Floats in a tensor, all layers together.</summary>
    public long ElementCount(TensorKind tensor) => _file.ElementCount(tensor);

    /// <summary>Floats in one layer's part of a per-layer tensor (the whole tensor for the embedding and the final norm).</summary>
    public int LayerSize(TensorKind tensor) =>
        (int)(tensor is TensorKind.TokenEmbedding or TensorKind.RmsFinal ? ElementCount(tensor) : ElementCount(tensor) / Config.NLayers);

    /// <summary>The 2-D tensors, in buffer order: the embedding and each layer's weight matrices.</summary>
    public static readonly TensorKind[] Matrices =
    [
        TensorKind.TokenEmbedding, TensorKind.Wq, TensorKind.Wk, TensorKind.Wv, TensorKind.Wo, TensorKind.W1, TensorKind.W2, TensorKind.W3,
    ];

    /// <summary>A weight matrix's rows (outputs) and columns (inputs), as llama2.c stores it; the embedding is vocab × dim.</summary>
    public (int Rows, int Cols) MatrixShape(TensorKind tensor)
    {
        var c = Config;
        return tensor switch
        {
            TensorKind.TokenEmbedding => (c.VocabSize, c.Dim),
            TensorKind.Wq or TensorKind.Wo => (c.Dim, c.Dim),
            TensorKind.Wk or TensorKind.Wv => (c.KvDim, c.Dim),
            TensorKind.W1 or TensorKind.W3 => (c.HiddenDim, c.Dim),
            TensorKind.W2 => (c.Dim, c.HiddenDim),
            _ => throw new ArgumentOutOfRangeException(nameof(tensor), tensor, "not a weight matrix"),
        };
    }

    /// <summary>A tensor's part for one layer (layer 0 for the tensors that are not per layer).</summary>
    public Span<float> View(Span<float> buffer, TensorKind tensor, int layer = 0)
    {
        int size = LayerSize(tensor);
        return buffer.Slice(checked((int)(Offset(tensor) + (long)layer * size)), size);
    }

    /// <inheritdoc cref="View(Span{float}, TensorKind, int)"/>
    public ReadOnlySpan<float> View(ReadOnlySpan<float> buffer, TensorKind tensor, int layer = 0)
    {
        int size = LayerSize(tensor);
        return buffer.Slice(checked((int)(Offset(tensor) + (long)layer * size)), size);
    }
}

using Llama2.Engine.Kernels;

namespace Llama2.Engine.Model;

/// <summary>The tensors of a llama2.c checkpoint, in no particular order.</summary>
public enum TensorKind
{
    TokenEmbedding, RmsAtt, Wq, Wk, Wv, Wo, RmsFfn, W1, W2, W3, RmsFinal,
    /// <summary>Legacy (version 0) files store precomputed RoPE tables; we skip them and compute our own.</summary>
    FreqCisReal, FreqCisImag,
    Classifier,
}

/// <summary>
/// Where each tensor lives in a checkpoint of a given version: the one description that both the reader and
/// the writer use, so the two can never disagree.
/// <list type="bullet">
/// <item>Versions 0 (legacy) and 1: every tensor in fp32, all layers of a tensor one after another.</item>
/// <item>Version 2 (llama2.c's Q8_0, what <c>export.py --version 2</c> writes and <c>runq.c</c> reads): the norms in
/// fp32, then the embedding and every weight matrix in int8 with one fp32 scale per group of
/// <see cref="GroupSize"/> weights. Each layer's matrix is its int8 values followed by its scales; the layers of
/// one tensor follow one another (all wq, then all wk, …).</item>
/// </list>
/// </summary>
public sealed class CheckpointLayout
{
    public const uint Version1Magic = 0x616b3432; // "ak42", also version 2's
    public const int Version0HeaderBytes = 7 * sizeof(int);
    public const int Version1HeaderBytes = 256;
    public const int Version2HeaderBytes = 256;

    static readonly TensorKind[] Version0Order =
    [
        TensorKind.TokenEmbedding, TensorKind.RmsAtt, TensorKind.Wq, TensorKind.Wk, TensorKind.Wv, TensorKind.Wo,
        TensorKind.RmsFfn, TensorKind.W1, TensorKind.W2, TensorKind.W3, TensorKind.RmsFinal,
        TensorKind.FreqCisReal, TensorKind.FreqCisImag, TensorKind.Classifier,
    ];

    static readonly TensorKind[] Version1Order =
    [
        TensorKind.RmsAtt, TensorKind.RmsFfn, TensorKind.RmsFinal, TensorKind.TokenEmbedding,
        TensorKind.Wq, TensorKind.Wk, TensorKind.Wv, TensorKind.Wo, TensorKind.W1, TensorKind.W2, TensorKind.W3,
        TensorKind.Classifier,
    ];

    readonly long[] _offsets = new long[Enum.GetValues<TensorKind>().Length];

    /// <param name="config">The model's shape.</param>
    /// <param name="version">0, 1 or 2.</param>
    /// <param name="groupSize">Version 2 only: weights per scale; it must divide dim and hidden_dim.</param>
    public CheckpointLayout(ModelConfig config, int version, int groupSize = 0)
    {
        if (version is not (0 or 1 or 2)) throw new ArgumentOutOfRangeException(nameof(version));
        if (version == 2 && GroupSizeProblem(config, groupSize) is { } problem) throw new ArgumentException(problem, nameof(groupSize));
        if (version != 2 && groupSize != 0) throw new ArgumentException("only version 2 has a group size", nameof(groupSize));
        Config = config;
        Version = version;
        GroupSize = groupSize;
        HeaderBytes = version switch { 0 => Version0HeaderBytes, 1 => Version1HeaderBytes, _ => Version2HeaderBytes };
        Array.Fill(_offsets, -1);
        long offset = HeaderBytes;
        Order = (version == 0 ? Version0Order : Version1Order) // version 2 keeps version 1's order
            .Where(t => t != TensorKind.Classifier || !config.SharedClassifier)
            .ToArray();
        foreach (var tensor in Order)
        {
            _offsets[(int)tensor] = offset;
            offset += TensorBytes(tensor);
        }
        FileBytes = offset;
    }

    public ModelConfig Config { get; }
    public int Version { get; }
    /// <summary>Weights per scale in version 2; 0 in the fp32 versions.</summary>
    public int GroupSize { get; }
    public int HeaderBytes { get; }
    /// <summary>The exact size a well-formed file of this shape has.</summary>
    public long FileBytes { get; }
    /// <summary>The tensors in file order.</summary>
    public IReadOnlyList<TensorKind> Order { get; }

    /// <summary>How the weight matrices (and the embedding) are stored.</summary>
    public WeightFormat Format => Version == 2 ? WeightFormat.Q8_0 : WeightFormat.F32;

    /// <summary>
    /// Why <paramref name="groupSize"/> cannot quantize a model of this shape, or null. Every row of every matrix is a
    /// whole number of groups, so the group size must divide dim and hidden_dim (runq.c would silently skip the rest of
    /// each row).
    /// </summary>
    public static string? GroupSizeProblem(ModelConfig config, int groupSize) =>
        groupSize <= 0 ? $"group size {groupSize} must be positive"
        : config.Dim % groupSize != 0 ? $"group size {groupSize} does not divide dim {config.Dim}"
        : config.HiddenDim % groupSize != 0 ? $"group size {groupSize} does not divide hidden_dim {config.HiddenDim}"
        : null;

    /// <summary>Whether a tensor is stored as int8 values and group scales (version 2's matrices and embedding).</summary>
    public bool IsQuantized(TensorKind tensor) =>
        Version == 2 && tensor is not (TensorKind.RmsAtt or TensorKind.RmsFfn or TensorKind.RmsFinal);

    /// <summary>Byte offset of a tensor in the file; the classifier of a shared model is the embedding.</summary>
    public long OffsetOf(TensorKind tensor) =>
        tensor == TensorKind.Classifier && Config.SharedClassifier
            ? _offsets[(int)TensorKind.TokenEmbedding]
            : _offsets[(int)tensor];

    /// <summary>Number of weights in a tensor, all layers together.</summary>
    public long ElementCount(TensorKind tensor) => LayerCount(tensor) * LayerElementCount(tensor);

    /// <summary>How many layers a tensor holds one part for (1 for the embedding, the final norm, the classifier).</summary>
    public int LayerCount(TensorKind tensor) => tensor switch
    {
        TensorKind.RmsAtt or TensorKind.RmsFfn or TensorKind.Wq or TensorKind.Wk or TensorKind.Wv or TensorKind.Wo
            or TensorKind.W1 or TensorKind.W2 or TensorKind.W3 => Config.NLayers,
        _ => 1,
    };

    /// <summary>Number of weights in one layer's part of a tensor.</summary>
    public long LayerElementCount(TensorKind tensor)
    {
        var c = Config;
        long dim = c.Dim, hidden = c.HiddenDim, kvDim = c.KvDim;
        return tensor switch
        {
            TensorKind.TokenEmbedding or TensorKind.Classifier => (long)c.VocabSize * dim,
            TensorKind.RmsAtt or TensorKind.RmsFfn or TensorKind.RmsFinal => dim,
            TensorKind.Wq or TensorKind.Wo => dim * dim,
            TensorKind.Wk or TensorKind.Wv => dim * kvDim,
            TensorKind.W1 or TensorKind.W2 or TensorKind.W3 => dim * hidden,
            TensorKind.FreqCisReal or TensorKind.FreqCisImag => (long)c.SeqLen * c.HeadSize / 2,
            _ => throw new ArgumentOutOfRangeException(nameof(tensor)),
        };
    }

    /// <summary>Bytes of one layer's part of a tensor: fp32 weights, or int8 values and then their fp32 scales.</summary>
    public long LayerBytes(TensorKind tensor)
    {
        long count = LayerElementCount(tensor);
        return IsQuantized(tensor) ? count + count / GroupSize * sizeof(float) : count * sizeof(float);
    }

    /// <summary>Bytes of a tensor, all layers together.</summary>
    public long TensorBytes(TensorKind tensor) => LayerCount(tensor) * LayerBytes(tensor);

    /// <summary>Byte offset of one layer's part of a tensor (of its int8 values, when quantized).</summary>
    public long OffsetOf(TensorKind tensor, int layer)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)layer, (uint)LayerCount(tensor), nameof(layer));
        return OffsetOf(tensor) + layer * LayerBytes(tensor);
    }

    /// <summary>Byte offset of the fp32 scales of one layer's part of a quantized tensor (right after its int8 values).</summary>
    public long ScalesOffsetOf(TensorKind tensor, int layer)
    {
        if (!IsQuantized(tensor)) throw new ArgumentException($"{tensor} is not quantized in a version {Version} checkpoint", nameof(tensor));
        return OffsetOf(tensor, layer) + LayerElementCount(tensor);
    }
}

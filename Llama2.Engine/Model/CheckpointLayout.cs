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
/// </summary>
public sealed class CheckpointLayout
{
    public const uint Version1Magic = 0x616b3432; // "ak42"
    public const int Version0HeaderBytes = 7 * sizeof(int);
    public const int Version1HeaderBytes = 256;

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

    public CheckpointLayout(ModelConfig config, int version)
    {
        if (version is not (0 or 1)) throw new ArgumentOutOfRangeException(nameof(version));
        Config = config;
        Version = version;
        HeaderBytes = version == 0 ? Version0HeaderBytes : Version1HeaderBytes;
        Array.Fill(_offsets, -1);
        long offset = HeaderBytes;
        Order = (version == 0 ? Version0Order : Version1Order)
            .Where(t => t != TensorKind.Classifier || !config.SharedClassifier)
            .ToArray();
        foreach (var tensor in Order)
        {
            _offsets[(int)tensor] = offset;
            offset += ElementCount(tensor) * sizeof(float);
        }
        FileBytes = offset;
    }

    public ModelConfig Config { get; }
    public int Version { get; }
    public int HeaderBytes { get; }
    /// <summary>The exact size a well-formed file of this shape has.</summary>
    public long FileBytes { get; }
    /// <summary>The tensors in file order.</summary>
    public IReadOnlyList<TensorKind> Order { get; }

    /// <summary>Byte offset of a tensor in the file; the classifier of a shared model is the embedding.</summary>
    public long OffsetOf(TensorKind tensor) =>
        tensor == TensorKind.Classifier && Config.SharedClassifier
            ? _offsets[(int)TensorKind.TokenEmbedding]
            : _offsets[(int)tensor];

    /// <summary>Number of floats in a tensor, all layers together.</summary>
    public long ElementCount(TensorKind tensor)
    {
        var c = Config;
        long dim = c.Dim, hidden = c.HiddenDim, layers = c.NLayers, kvDim = c.KvDim;
        return tensor switch
        {
            TensorKind.TokenEmbedding or TensorKind.Classifier => (long)c.VocabSize * dim,
            TensorKind.RmsAtt or TensorKind.RmsFfn => layers * dim,
            TensorKind.RmsFinal => dim,
            TensorKind.Wq or TensorKind.Wo => layers * dim * dim,
            TensorKind.Wk or TensorKind.Wv => layers * dim * kvDim,
            TensorKind.W1 or TensorKind.W2 or TensorKind.W3 => layers * dim * hidden,
            TensorKind.FreqCisReal or TensorKind.FreqCisImag => (long)c.SeqLen * c.HeadSize / 2,
            _ => throw new ArgumentOutOfRangeException(nameof(tensor)),
        };
    }
}

namespace Llama2.Engine.Model;

/// <summary>The shape of a Llama 2 model, as stored in a llama2.c checkpoint header, and the two settings a header
/// cannot carry (RMSNorm ε, rotary base).</summary>
public sealed record ModelConfig(
    int Dim,
    int HiddenDim,
    int NLayers,
    int NHeads,
    int NKvHeads,
    int VocabSize,
    int SeqLen,
    bool SharedClassifier)
{
    /// <summary>RMSNorm's ε. A llama2.c .bin cannot say; run.c uses 1e-5. Hugging Face and GGUF models say theirs.</summary>
    public float RmsNormEps { get; init; } = DefaultRmsNormEps;
    /// <summary>The rotary embeddings' base θ. A llama2.c .bin cannot say; run.c uses 10000.</summary>
    public float RopeTheta { get; init; } = DefaultRopeTheta;

    /// <summary>What a llama2.c .bin implies: run.c's RMSNorm ε and rotary base.</summary>
    public const float DefaultRmsNormEps = 1e-5f, DefaultRopeTheta = 10000f;

    public int HeadSize => Dim / NHeads;
    public int KvDim => Dim * NKvHeads / NHeads;
    /// <summary>How many query heads share one key/value head (grouped-query attention).</summary>
    public int KvMul => NHeads / NKvHeads;

    /// <summary>Number of fp32 weights, classifier included when it is not shared with the embedding.</summary>
    public long ParameterCount
    {
        get
        {
            long dim = Dim, hidden = HiddenDim, layers = NLayers, vocab = VocabSize, kvDim = KvDim;
            long perLayer = 2 * dim + 2 * dim * dim + 2 * dim * kvDim + 3 * dim * hidden;
            return vocab * dim + layers * perLayer + dim + (SharedClassifier ? 0 : vocab * dim);
        }
    }

    public override string ToString() =>
        $"dim {Dim}, hidden {HiddenDim}, layers {NLayers}, heads {NHeads}, kv heads {NKvHeads}, vocab {VocabSize}, seq_len {SeqLen}" +
        (RmsNormEps != DefaultRmsNormEps ? $", rms_norm_eps {RmsNormEps:R}" : "") +
        (RopeTheta != DefaultRopeTheta ? $", rope_theta {RopeTheta:R}" : "");
}

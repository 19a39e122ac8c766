using Llama2.Engine.Formats.Gguf;
using Llama2.Engine.Formats.HuggingFace;
using Llama2.Engine.Model;

namespace Llama2.Engine.Formats;

/// <summary>
/// A Llama model in a format other than llama2.c's .bin — a Hugging Face folder (<see cref="HuggingFaceModel"/>) or a
/// GGUF file (<see cref="GgufModel"/>) — with its weights memory-mapped where they are. It gives the model's shape, the
/// settings a .bin cannot carry (RMSNorm epsilon, rotary base), each weight as a <see cref="MappedTensor"/> under
/// llama2.c's name for it (<see cref="TensorKind"/>) with the order of its query/key rows (<see cref="QueryKeyLayout"/>),
/// and the vocabulary when the files hold one. Opening checks that every weight is there with the right shape and a
/// type this reader takes, so a bad file fails before anything is written.
/// </summary>
public abstract class ExternalModel : IDisposable
{
    /// <summary>What a llama2.c .bin implies: run.c's RMSNorm epsilon and rotary base.</summary>
    public const float Llama2cRmsNormEps = 1e-5f, Llama2cRopeTheta = 10000f;

    /// <summary>The folder or file the model was opened from.</summary>
    public required string Path { get; init; }
    /// <summary>"Hugging Face (safetensors)" or "GGUF".</summary>
    public abstract string FormatName { get; }
    public required ModelConfig Config { get; init; }
    public required float RmsNormEps { get; init; }
    public required float RopeTheta { get; init; }
    /// <summary>The order of the rows of <see cref="TensorKind.Wq"/> and <see cref="TensorKind.Wk"/> within a head.</summary>
    public abstract RotaryLayout QueryKeyLayout { get; }
    /// <summary>The vocabulary stored with the model, or null (<see cref="VocabularyNote"/> says why).</summary>
    public Vocabulary? Vocabulary { get; init; }
    /// <summary>Why there is no vocabulary, when there is none.</summary>
    public string? VocabularyNote { get; init; }

    /// <summary>The name the format gives a weight, for messages.</summary>
    public abstract string TensorName(TensorKind kind, int layer);

    /// <summary>
    /// A weight as stored: for the per-layer kinds, layer <paramref name="layer"/>'s matrix or vector; for the others
    /// (embedding, final norm, classifier) the one tensor, <paramref name="layer"/> ignored. The classifier of a model
    /// with a shared classifier is the embedding.
    /// </summary>
    public abstract MappedTensor Tensor(TensorKind kind, int layer = 0);

    /// <summary>The kinds of weight a Llama model has, in llama2.c's terms (not the legacy format's rotary tables).</summary>
    public static IReadOnlyList<TensorKind> WeightKinds { get; } =
    [
        TensorKind.TokenEmbedding, TensorKind.RmsAtt, TensorKind.Wq, TensorKind.Wk, TensorKind.Wv, TensorKind.Wo,
        TensorKind.RmsFfn, TensorKind.W1, TensorKind.W2, TensorKind.W3, TensorKind.RmsFinal, TensorKind.Classifier,
    ];

    public static bool IsPerLayer(TensorKind kind) =>
        kind is not (TensorKind.TokenEmbedding or TensorKind.RmsFinal or TensorKind.Classifier);

    /// <summary>The row-major shape a weight must have: (out × in) for matrices.</summary>
    public static long[] ExpectedShape(ModelConfig c, TensorKind kind) => kind switch
    {
        TensorKind.TokenEmbedding or TensorKind.Classifier => [c.VocabSize, c.Dim],
        TensorKind.RmsAtt or TensorKind.RmsFfn or TensorKind.RmsFinal => [c.Dim],
        TensorKind.Wq or TensorKind.Wo => [c.Dim, c.Dim],
        TensorKind.Wk or TensorKind.Wv => [c.KvDim, c.Dim],
        TensorKind.W1 or TensorKind.W3 => [c.HiddenDim, c.Dim],
        TensorKind.W2 => [c.Dim, c.HiddenDim],
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>Every weight by kind and layer, each once (a shared classifier is not listed apart from the embedding).</summary>
    public IEnumerable<(TensorKind Kind, int Layer)> WeightSlots()
    {
        foreach (var kind in WeightKinds)
        {
            if (kind == TensorKind.Classifier && Config.SharedClassifier) continue;
            for (int layer = 0; layer < (IsPerLayer(kind) ? Config.NLayers : 1); layer++) yield return (kind, layer);
        }
    }

    /// <summary>The stored types of the weights, most elements first, e.g. "BF16" or "Q8_0, F32".</summary>
    public string StoredTypes() => string.Join(", ", WeightSlots().Select(w => Tensor(w.Kind, w.Layer)).GroupBy(t => t.Type)
        .OrderByDescending(g => g.Sum(t => t.ElementCount)).Select(g => g.Key.ToString()));

    /// <summary>Checks that every weight is there with its expected shape; the error names the file and the tensor.</summary>
    protected void CheckWeights()
    {
        foreach (var (kind, layer) in WeightSlots())
        {
            var tensor = Tensor(kind, layer);
            var expected = ExpectedShape(Config, kind);
            if (!tensor.Shape.SequenceEqual(expected))
                throw new CheckpointFormatException(tensor.FilePath,
                    $"tensor {tensor.Name} has shape {tensor.ShapeText} but the model's settings make it [{string.Join(", ", expected)}]");
        }
    }

    /// <summary>
    /// Checks a shape read from a model's settings as the engine needs it; <paramref name="names"/> are the format's
    /// names for dim, hidden, layers, heads, kv heads, vocabulary and context, in that order, for the message.
    /// </summary>
    protected static ModelConfig CheckConfig(string path, ModelConfig c, params string[] names)
    {
        long[] values = [c.Dim, c.HiddenDim, c.NLayers, c.NHeads, c.NKvHeads, c.VocabSize, c.SeqLen];
        for (int i = 0; i < values.Length; i++)
            if (values[i] <= 0) throw new CheckpointFormatException(path, $"{names[i]} is {values[i]}; it must be positive");
        if (c.Dim % c.NHeads != 0)
            throw new CheckpointFormatException(path, $"{names[0]} {c.Dim} is not divisible by {names[3]} {c.NHeads}");
        if (c.NHeads % c.NKvHeads != 0)
            throw new CheckpointFormatException(path, $"{names[3]} {c.NHeads} is not divisible by {names[4]} {c.NKvHeads}");
        if (c.HeadSize % 2 != 0)
            throw new CheckpointFormatException(path, $"the head size {c.HeadSize} is odd; rotary embeddings need pairs");
        return c;
    }

    /// <summary>
    /// Whether <paramref name="path"/> names a model this reader opens rather than a llama2.c .bin: a folder, or a file
    /// ending in .gguf or starting with GGUF's magic.
    /// </summary>
    public static bool Recognizes(string path) =>
        Directory.Exists(path) || path.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase) || (File.Exists(path) && GgufFile.HasMagic(path));

    /// <summary>
    /// Opens a Hugging Face folder (config.json and safetensors) or a GGUF file. Anything else, a llama2.c .bin
    /// included, is a <see cref="CheckpointFormatException"/> saying what is read.
    /// </summary>
    public static ExternalModel Open(string path)
    {
        if (Directory.Exists(path)) return HuggingFaceModel.Open(path);
        if (!File.Exists(path)) throw new CheckpointFormatException(path, "not found (expected a Hugging Face model folder or a .gguf file)");
        if (GgufFile.HasMagic(path)) return GgufModel.Open(path);
        if (System.IO.Path.GetFileName(path) == "config.json" || path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
            throw new CheckpointFormatException(path, "give the folder that holds config.json and the safetensors files, not one of its files");
        throw new CheckpointFormatException(path,
            "neither a GGUF file (it does not start with 'GGUF') nor a Hugging Face model folder");
    }

    public abstract void Dispose();
}

using Llama2.Engine.Kernels;

namespace Llama2.Engine.Model;

/// <summary>
/// Turns an fp32 checkpoint (version 0 or 1) into llama2.c's version 2 (Q8_0), exactly as <c>export.py --version 2</c>
/// writes it: the header (magic, version 2, the seven config ints, the shared-classifier byte, the group size, zeros
/// to 256 bytes), the norms in fp32, then each matrix quantized by <see cref="WeightQuantizer"/>, its int8 values
/// followed by its scales: the embedding, every layer's wq, then every layer's wk, wv, wo, w1, w2, w3, and the
/// classifier unless it is the embedding. To a file (<see cref="QuantizeFile"/>) or to memory
/// (<see cref="Checkpoint.QuantizeInMemory"/>), written by <see cref="CheckpointWriter"/>, which also writes the
/// version 2 exports of the trainer and of <c>convert</c> from the same layout (<see cref="LayoutFor(ModelConfig, int, Action{TensorKind, long, Span{float}})"/>).
/// </summary>
public static class CheckpointQuantizer
{
    /// <summary>export.py's default group size.</summary>
    public const int DefaultGroupSize = 64;

    /// <summary>
    /// The group size a model of this shape is quantized with: <paramref name="requested"/>, halved while it does not
    /// divide dim (export.py's back-off) or hidden_dim (where export.py would write groups that straddle rows of w2, whose
    /// ends runq.c silently skips). Stories42M (dim 512, hidden 1376) gets 32, every other shape we know 64.
    /// </summary>
    public static int FitGroupSize(ModelConfig config, int requested)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(requested);
        int groupSize = requested;
        while (config.Dim % groupSize != 0 || config.HiddenDim % groupSize != 0) groupSize /= 2;
        return groupSize;
    }

    /// <summary>
    /// The version 2 layout of <paramref name="source"/> quantized with <paramref name="groupSize"/> (see
    /// <see cref="LayoutFor(ModelConfig, int, Action{TensorKind, long, Span{float}})"/>).
    /// </summary>
    public static CheckpointLayout LayoutFor(Checkpoint source, int groupSize)
    {
        if (source.Weights.Format == WeightFormat.Q8_0)
            throw new CheckpointFormatException(source.Path, source.Format.StartsWith("llama2.c", StringComparison.Ordinal)
                ? $"is already quantized ({source.Layout.Format}, version {source.Layout.Version})"
                : $"is already quantized ({source.Format} Q8_0)");
        return LayoutFor(source.Config, groupSize, Weights(source));
    }

    /// <summary>
    /// The version 2 layout of a model of <paramref name="config"/> whose fp32 weights <paramref name="fill"/> gives (as
    /// <see cref="CheckpointWriter"/> takes them), quantized with <paramref name="groupSize"/>. The classifier is shared
    /// when the model says so, or, as export.py decides it, when an unshared classifier equals the embedding.
    /// </summary>
    public static CheckpointLayout LayoutFor(ModelConfig config, int groupSize, Action<TensorKind, long, Span<float>> fill)
    {
        if (CheckpointLayout.GroupSizeProblem(config, groupSize) is { } problem)
            throw new ArgumentException(problem, nameof(groupSize));
        if (!config.SharedClassifier && ClassifierIsEmbedding(config, fill))
            config = config with { SharedClassifier = true };
        return new CheckpointLayout(config, 2, groupSize);
    }

    static bool ClassifierIsEmbedding(ModelConfig config, Action<TensorKind, long, Span<float>> fill)
    {
        long count = new CheckpointLayout(config, 1).ElementCount(TensorKind.Classifier);
        float[] classifier = new float[1 << 16], embedding = new float[1 << 16];
        for (long start = 0; start < count; start += classifier.Length)
        {
            int length = (int)Math.Min(classifier.Length, count - start);
            fill(TensorKind.Classifier, start, classifier.AsSpan(0, length));
            fill(TensorKind.TokenEmbedding, start, embedding.AsSpan(0, length));
            if (!classifier.AsSpan(0, length).SequenceEqual(embedding.AsSpan(0, length))) return false;
        }
        return true;
    }

    /// <summary>
    /// The float weights of a checkpoint (a llama2.c file, a Hugging Face folder or a GGUF file; widened to fp32
    /// exactly), the rows of Wq and Wk in Meta's order whatever the source's, as <see cref="CheckpointWriter"/> takes
    /// them. Each source tensor is let go of (<see cref="Checkpoint.ForgetSource"/>) once its last element is read.
    /// </summary>
    public static Action<TensorKind, long, Span<float>> Weights(Checkpoint source)
    {
        var w = source.Weights;
        var fp32 = new CheckpointLayout(source.Config, 1);
        var row = new float[Math.Max(source.Config.Dim, source.Config.HiddenDim)];
        return (tensor, start, chunk) =>
        {
            long perLayer = fp32.LayerElementCount(tensor);
            while (!chunk.IsEmpty)
            {
                int layer = (int)(start / perLayer), columns = w[tensor, layer].Columns;
                long within = start % perLayer;
                int column = (int)(within % columns), count = Math.Min(chunk.Length, columns - column);
                w.ReadInterleavedRow(tensor, layer, (int)(within / columns), row.AsSpan(0, columns));
                row.AsSpan(column, count).CopyTo(chunk);
                chunk = chunk[count..];
                start += count;
                if (start % perLayer == 0) source.ForgetSource(tensor, layer);
            }
        };
    }

    /// <summary>
    /// Writes the version 2 checkpoint <paramref name="target"/> (from <see cref="LayoutFor(Checkpoint, int)"/>) of the
    /// float model <paramref name="source"/> to <paramref name="destination"/>, from its first byte to its last in
    /// order (<see cref="Weights"/>). <paramref name="progress"/> gets the fraction done.
    /// </summary>
    public static void Write(Checkpoint source, CheckpointLayout target, Stream destination,
        IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        if (target.Version != 2 || target.Config with { SharedClassifier = source.Config.SharedClassifier } != source.Config)
            throw new ArgumentException("the target is not a version 2 layout of the source's shape", nameof(target));
        CheckpointWriter.Write(destination, target, Weights(source), progress, cancellationToken);
    }

    /// <summary>
    /// Quantizes the fp32 checkpoint at <paramref name="input"/> into a version 2 file at <paramref name="output"/>.
    /// The file is written under a temporary name beside it and renamed when complete, so <paramref name="output"/>
    /// never holds a partial file. Returns the layout written (its group size after <see cref="FitGroupSize"/>).
    /// </summary>
    public static CheckpointLayout QuantizeFile(string input, string output, int groupSize = DefaultGroupSize,
        IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        using var source = Checkpoint.Open(input);
        var layout = LayoutFor(source, FitGroupSize(source.Config, groupSize));
        var directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(output))!;
        string temporary = System.IO.Path.Combine(directory, $".{System.IO.Path.GetFileName(output)}.{Guid.NewGuid():N}.partial");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                stream.SetLength(layout.FileBytes); // fails now, not at the end, when the disk is too small
                Write(source, layout, stream, progress, cancellationToken);
            }
            File.Move(temporary, output, overwrite: true);
        }
        finally
        {
            File.Delete(temporary); // gone already after the move
        }
        return layout;
    }
}

using System.Runtime.InteropServices;
using Llama2.Engine.Kernels;

namespace Llama2.Engine.Model;

/// <summary>
/// Turns an fp32 checkpoint (version 0 or 1) into llama2.c's version 2 (Q8_0), exactly as <c>export.py --version 2</c>
/// writes it: the header (magic, version 2, the seven config ints, the shared-classifier byte, the group size, zeros
/// to 256 bytes), the norms in fp32, then each matrix quantized by <see cref="WeightQuantizer"/>, its int8 values
/// followed by its scales: the embedding, every layer's wq, then every layer's wk, wv, wo, w1, w2, w3, and the
/// classifier unless it is the embedding. To a file (<see cref="QuantizeFile"/>) or to memory
/// (<see cref="Checkpoint.QuantizeInMemory"/>), through the same <see cref="Write"/>.
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
    /// The version 2 layout of <paramref name="source"/> quantized with <paramref name="groupSize"/>. The classifier is
    /// shared when the source says so, or, as export.py decides it, when an unshared classifier equals the embedding.
    /// </summary>
    public static CheckpointLayout LayoutFor(Checkpoint source, int groupSize)
    {
        if (source.Weights.Format == WeightFormat.Q8_0)
            throw new CheckpointFormatException(source.Path, source.Format.StartsWith("llama2.c", StringComparison.Ordinal)
                ? $"is already quantized ({source.Layout.Format}, version {source.Layout.Version})"
                : $"is already quantized ({source.Format} Q8_0)");
        var config = source.Config;
        if (CheckpointLayout.GroupSizeProblem(config, groupSize) is { } problem)
            throw new ArgumentException(problem, nameof(groupSize));
        if (!config.SharedClassifier && SameRows(source.Weights, TensorKind.Classifier, TensorKind.TokenEmbedding))
            config = config with { SharedClassifier = true };
        return new CheckpointLayout(config, 2, groupSize);
    }

    /// <summary>Whether two (vocab × dim) matrices hold the same values.</summary>
    static bool SameRows(TransformerWeights w, TensorKind a, TensorKind b)
    {
        var (rowA, rowB) = (new float[w.Config.Dim], new float[w.Config.Dim]);
        for (int row = 0; row < w.Config.VocabSize; row++)
        {
            w[a, 0].ReadRow(row, rowA);
            w[b, 0].ReadRow(row, rowB);
            if (!rowA.AsSpan().SequenceEqual(rowB)) return false;
        }
        return true;
    }

    /// <summary>
    /// Writes the version 2 checkpoint <paramref name="target"/> (from <see cref="LayoutFor"/>) of the float model
    /// <paramref name="source"/> to <paramref name="destination"/>, from its first byte to its last in order, the rows
    /// of Wq and Wk in Meta's order whatever the source's. <paramref name="progress"/> gets the fraction done.
    /// </summary>
    public static void Write(Checkpoint source, CheckpointLayout target, Stream destination,
        IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        if (target.Version != 2 || target.Config with { SharedClassifier = source.Config.SharedClassifier } != source.Config)
            throw new ArgumentException("the target is not a version 2 layout of the source's shape", nameof(target));
        destination.Write(CheckpointHeader.Write(target));
        long written = target.HeaderBytes;
        var weights = new float[1 << 18];
        var values = new sbyte[weights.Length];
        var scales = Array.Empty<float>();
        foreach (var tensor in target.Order)
        {
            for (int layer = 0; layer < target.LayerCount(tensor); layer++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var matrix = source.Weights[tensor, layer];
                int rows = matrix.Rows, columns = matrix.Columns;
                if (!target.IsQuantized(tensor))
                {
                    matrix.ReadRow(0, weights);
                    destination.Write(MemoryMarshal.AsBytes(weights.AsSpan(0, columns)));
                }
                else
                {
                    // The values in chunks of whole rows (whole groups) as they are made, then all the scales.
                    long groups = (long)rows * columns / target.GroupSize;
                    if (scales.Length < groups) scales = new float[groups];
                    int chunkRows = Math.Max(1, weights.Length / columns);
                    if (weights.Length < columns) (weights, values) = (new float[columns], new sbyte[columns]);
                    for (int row = 0; row < rows; row += chunkRows)
                    {
                        int count = Math.Min(chunkRows, rows - row);
                        for (int r = 0; r < count; r++)
                            source.Weights.ReadInterleavedRow(tensor, layer, row + r, weights.AsSpan(r * columns, columns));
                        WeightQuantizer.Quantize(weights.AsSpan(0, count * columns), values,
                            scales.AsSpan(checked((int)((long)row * columns / target.GroupSize))), target.GroupSize);
                        destination.Write(MemoryMarshal.AsBytes(values.AsSpan(0, count * columns)));
                    }
                    destination.Write(MemoryMarshal.AsBytes(scales.AsSpan(0, checked((int)groups))));
                }
                source.ForgetSource(tensor, layer);
                written += target.LayerBytes(tensor);
                progress?.Report((double)written / target.FileBytes);
            }
        }
        if (written != target.FileBytes) throw new InvalidOperationException($"wrote {written} bytes of {target.FileBytes}");
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

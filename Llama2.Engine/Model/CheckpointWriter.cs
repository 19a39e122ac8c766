using System.Runtime.InteropServices;

namespace Llama2.Engine.Model;

/// <summary>
/// Writes llama2.c checkpoints of any version from fp32 weights: the header, then each tensor in the layout's order,
/// in fp32 or, for the matrices of a version 2 layout, quantized by <see cref="WeightQuantizer"/> (each layer's int8
/// values followed by its group scales). The training export, <c>convert</c>, <c>quantize</c> and quantizing at load
/// all write through it; the tests and the benchmark make models of any shape with seeded random weights.
/// </summary>
public static class CheckpointWriter
{
    /// <summary>
    /// Writes a checkpoint whose every tensor is filled by <paramref name="fill"/> (tensor, index within it counting
    /// all its layers in a row, buffer of fp32 weights). <paramref name="progress"/> gets the fraction written so far.
    /// </summary>
    public static void Write(string path, CheckpointLayout layout, Action<TensorKind, long, Span<float>> fill,
        IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        var directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (directory is not null) Directory.CreateDirectory(directory);
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        stream.SetLength(layout.FileBytes); // fails now, not at the end, when the disk is too small
        Write(stream, layout, fill, progress, cancellationToken);
    }

    /// <summary>
    /// Writes the checkpoint to <paramref name="destination"/>, from its first byte to its last in order (see
    /// <see cref="Write(string, CheckpointLayout, Action{TensorKind, long, Span{float}}, IProgress{double}?, CancellationToken)"/>).
    /// </summary>
    public static void Write(Stream destination, CheckpointLayout layout, Action<TensorKind, long, Span<float>> fill,
        IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        destination.Write(CheckpointHeader.Write(layout));
        long written = layout.HeaderBytes;
        var buffer = new float[1 << 18];
        var values = layout.Version == 2 ? new sbyte[buffer.Length] : [];
        var scales = Array.Empty<float>();
        foreach (var tensor in layout.Order)
        {
            long perLayer = layout.LayerElementCount(tensor);
            bool quantized = layout.IsQuantized(tensor);
            int chunkLength = quantized ? buffer.Length / layout.GroupSize * layout.GroupSize : buffer.Length;
            if (quantized && scales.Length < perLayer / layout.GroupSize) scales = new float[perLayer / layout.GroupSize];
            for (int layer = 0; layer < layout.LayerCount(tensor); layer++)
            {
                // A quantized layer's values in chunks of whole groups as they are made, then all its scales.
                for (long within = 0; within < perLayer; within += chunkLength)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var chunk = buffer.AsSpan(0, (int)Math.Min(chunkLength, perLayer - within));
                    fill(tensor, layer * perLayer + within, chunk);
                    if (!quantized)
                    {
                        destination.Write(MemoryMarshal.AsBytes(chunk));
                        written += chunk.Length * sizeof(float);
                    }
                    else
                    {
                        WeightQuantizer.Quantize(chunk, values, scales.AsSpan((int)(within / layout.GroupSize)), layout.GroupSize);
                        destination.Write(MemoryMarshal.AsBytes(values.AsSpan(0, chunk.Length)));
                        written += chunk.Length;
                    }
                    progress?.Report((double)written / layout.FileBytes);
                }
                if (quantized)
                {
                    destination.Write(MemoryMarshal.AsBytes(scales.AsSpan(0, (int)(perLayer / layout.GroupSize))));
                    written += perLayer / layout.GroupSize * sizeof(float);
                }
            }
        }
        if (written != layout.FileBytes) throw new InvalidOperationException($"wrote {written} bytes of {layout.FileBytes}");
        progress?.Report(1);
    }

    /// <summary>
    /// Seeded random weights scaled like a trained model's (small matrices, RMSNorm gains near 1), so that
    /// activations stay finite and sampling is not degenerate.
    /// </summary>
    public static void WriteRandom(string path, ModelConfig config, int version = 0, int seed = 1234,
        IProgress<double>? progress = null)
    {
        var layout = new CheckpointLayout(config, version);
        var random = new Random(seed);
        Write(path, layout, (tensor, _, chunk) =>
        {
            bool isNorm = tensor is TensorKind.RmsAtt or TensorKind.RmsFfn or TensorKind.RmsFinal;
            float scale = (tensor is TensorKind.TokenEmbedding or TensorKind.Classifier ? 1f : 0.5f) / MathF.Sqrt(config.Dim);
            for (int i = 0; i < chunk.Length; i++)
            {
                float u = (float)random.NextDouble() * 2f - 1f;
                chunk[i] = isNorm ? 1f + 0.1f * u : scale * u;
            }
        }, progress);
    }
}

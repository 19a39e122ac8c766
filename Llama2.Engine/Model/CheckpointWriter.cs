namespace Llama2.Engine.Model;

/// <summary>
/// Writes llama2.c checkpoints. Used by the tests and the benchmark to make models of any shape with seeded random
/// weights, in the real file formats.
/// </summary>
public static class CheckpointWriter
{
    /// <summary>
    /// Writes a checkpoint whose every tensor is filled by <paramref name="fill"/> (tensor, index within it, buffer).
    /// <paramref name="progress"/> gets the fraction written so far.
    /// </summary>
    public static void Write(string path, CheckpointLayout layout, Action<TensorKind, long, Span<float>> fill,
        IProgress<double>? progress = null)
    {
        var directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (directory is not null) Directory.CreateDirectory(directory);
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        stream.Write(CheckpointHeader.Write(layout));
        var buffer = new float[1 << 18];
        long written = layout.HeaderBytes;
        foreach (var tensor in layout.Order)
        {
            long count = layout.ElementCount(tensor);
            for (long start = 0; start < count; start += buffer.Length)
            {
                var chunk = buffer.AsSpan(0, (int)Math.Min(buffer.Length, count - start));
                fill(tensor, start, chunk);
                stream.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(chunk));
                written += chunk.Length * sizeof(float);
                progress?.Report((double)written / layout.FileBytes);
            }
        }
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

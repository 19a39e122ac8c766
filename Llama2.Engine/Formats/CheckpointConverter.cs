using Llama2.Engine.Model;

namespace Llama2.Engine.Formats;

/// <summary>
/// Writes an <see cref="ExternalModel"/> as a llama2.c checkpoint (fp32 version 0 or 1, or int8 version 2), streaming:
/// each weight is read from its mapping, widened or dequantized to fp32 (exactly), its query/key rows put in Meta's
/// interleaved order (undoing Hugging Face's permutation), quantized for version 2 as <c>quantize</c> does, and written
/// in the .bin's order — memory stays flat whatever the model's size.
/// The file is written under a temporary name and renamed when complete.
/// </summary>
public static class CheckpointConverter
{
    /// <summary>
    /// Why the model cannot be written as a .bin that computes as it does, or null. A .bin carries no RMSNorm epsilon and
    /// no rotary base: run.c and this engine use 1e-5 and 10000. Another rotary base changes every position's rotation,
    /// so it is refused; another epsilon only nudges the normalization (see <see cref="Warnings"/>).
    /// </summary>
    public static string? Unrepresentable(ExternalModel model) =>
        model.RopeTheta != ExternalModel.Llama2cRopeTheta
            ? $"its rotary base (rope_theta) is {model.RopeTheta:R}, but a llama2.c .bin implies {ExternalModel.Llama2cRopeTheta:R}; " +
              "it cannot be converted until the engine serves this format directly"
            : null;

    /// <summary>Differences a .bin cannot carry that change the output only slightly.</summary>
    public static IEnumerable<string> Warnings(ExternalModel model)
    {
        if (model.RmsNormEps != ExternalModel.Llama2cRmsNormEps)
            yield return $"its RMSNorm epsilon is {model.RmsNormEps:R}; the .bin will be computed with llama2.c's {ExternalModel.Llama2cRmsNormEps:R}, " +
                         "so its outputs differ slightly from the original's";
    }

    /// <summary>
    /// The .bin's layout for the model: its shape, as version 0, 1 or 2 (int8, quantized with
    /// <paramref name="groupSize"/> backed off as <see cref="CheckpointQuantizer.FitGroupSize"/> does, and the
    /// classifier shared when it equals the embedding, as <c>quantize</c> decides it). A shape the .bin's reader would
    /// refuse (beyond its limits) is refused here, before anything is written.
    /// </summary>
    public static CheckpointLayout LayoutFor(ExternalModel model, int version, int groupSize = CheckpointQuantizer.DefaultGroupSize)
    {
        var layout = version == 2
            ? CheckpointQuantizer.LayoutFor(model.Config, CheckpointQuantizer.FitGroupSize(model.Config, groupSize), Weights(model))
            : new CheckpointLayout(model.Config, version);
        try
        {
            CheckpointHeader.Parse(CheckpointHeader.Write(layout), model.Path);
        }
        catch (CheckpointFormatException e)
        {
            throw new CheckpointFormatException(model.Path, $"its shape cannot be written as a llama2.c checkpoint: {e.Problem}");
        }
        return layout;
    }

    /// <summary>
    /// Writes <paramref name="model"/> to <paramref name="outputPath"/> as a version <paramref name="version"/> .bin
    /// (0, 1, or 2 with <paramref name="groupSize"/>: see <see cref="LayoutFor"/>). <paramref name="progress"/> gets the
    /// fraction written. Cancelling, or any failure, leaves nothing under <paramref name="outputPath"/> and removes the
    /// temporary file.
    /// </summary>
    public static void Convert(ExternalModel model, string outputPath, int version, IProgress<double>? progress = null,
        CancellationToken cancellationToken = default, int groupSize = CheckpointQuantizer.DefaultGroupSize)
    {
        if (Unrepresentable(model) is { } problem) throw new CheckpointFormatException(model.Path, problem);
        var layout = LayoutFor(model, version, groupSize);
        string partial = outputPath + ".partial";
        try
        {
            CheckpointWriter.Write(partial, layout, Weights(model), progress, cancellationToken);
            File.Move(partial, outputPath, overwrite: false);
        }
        catch
        {
            File.Delete(partial);
            throw;
        }
        PageCache.Evict(outputPath); // mapped later in huge pages (see PageCache)
    }

    /// <summary>The model's weights in fp32 and the .bin's order, as <see cref="CheckpointWriter"/> takes them.</summary>
    static Action<TensorKind, long, Span<float>> Weights(ExternalModel model)
    {
        var fp32 = new CheckpointLayout(model.Config, 1);
        return (kind, start, chunk) => Fill(model, fp32, kind, start, chunk);
    }

    /// <summary>Elements <paramref name="start"/>.. of a .bin tensor (all layers in a row), from the model's tensors.</summary>
    static void Fill(ExternalModel model, CheckpointLayout layout, TensorKind kind, long start, Span<float> chunk)
    {
        var config = model.Config;
        if (kind is TensorKind.FreqCisReal or TensorKind.FreqCisImag)
        {
            FillRotaryTable(config, kind == TensorKind.FreqCisReal, start, chunk);
            return;
        }
        int layers = ExternalModel.IsPerLayer(kind) ? config.NLayers : 1;
        long perLayer = layout.ElementCount(kind) / layers;
        bool reorderRows = kind is TensorKind.Wq or TensorKind.Wk && model.QueryKeyLayout != RotaryLayout.Interleaved;
        while (chunk.Length > 0)
        {
            int layer = (int)(start / perLayer);
            long within = start % perLayer;
            int count = (int)Math.Min(chunk.Length, perLayer - within);
            var tensor = model.Tensor(kind, layer);
            if (reorderRows) ReadRowsInterleaved(tensor, model.QueryKeyLayout, config.HeadSize, within, chunk[..count]);
            else tensor.ReadFloats(within, chunk[..count]);
            if (within + count == perLayer) tensor.Forget(); // read once: hold one tensor's pages, not the model's
            chunk = chunk[count..];
            start += count;
        }
    }

    /// <summary>Elements from <paramref name="first"/> of a query/key matrix in Meta's row order, read from another order.</summary>
    static void ReadRowsInterleaved(MappedTensor tensor, RotaryLayout layout, int headSize, long first, Span<float> destination)
    {
        long columns = tensor.Columns;
        while (destination.Length > 0)
        {
            long row = first / columns, column = first % columns;
            int count = (int)Math.Min(destination.Length, columns - column);
            tensor.ReadFloats(layout.SourceRow(row, headSize) * columns + column, destination[..count]);
            destination = destination[count..];
            first += count;
        }
    }

    /// <summary>
    /// The legacy format's precomputed rotary tables (cos or sin of position × frequency, seq_len × head_size/2), as
    /// llama2.c's model.py computes them. Readers skip them (run.c and this engine compute their own), but a version 0
    /// file holds them.
    /// </summary>
    static void FillRotaryTable(ModelConfig config, bool cosine, long start, Span<float> chunk)
    {
        int half = config.HeadSize / 2;
        for (int i = 0; i < chunk.Length; i++)
        {
            long index = start + i;
            int position = (int)(index / half), pair = (int)(index % half);
            float frequency = 1f / MathF.Pow(ExternalModel.Llama2cRopeTheta, 2f * pair / config.HeadSize);
            float angle = position * frequency;
            chunk[i] = cosine ? MathF.Cos(angle) : MathF.Sin(angle);
        }
    }
}

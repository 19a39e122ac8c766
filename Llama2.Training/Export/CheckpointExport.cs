using System.Runtime.InteropServices;
using Llama2.Engine.Model;
using Llama2.Training.Layers;
using Llama2.Training.Model;

namespace Llama2.Training.Export;

/// <summary>
/// A trained model as a llama2.c checkpoint, and back. Version 0 is the legacy format run.c reads (header of seven
/// ints, the tensors, the RoPE tables it skips); version 1 has the 256-byte header with the magic "ak42"; version 2 is
/// int8 (Q8_0), what <c>export.py --version 2</c> writes and runq.c reads. All are written through the engine's own
/// <see cref="CheckpointLayout"/> and <see cref="CheckpointWriter"/>, the description the engine reads them with;
/// version 2 quantizes exactly as <c>Llama2.Cli quantize</c> does (<see cref="CheckpointQuantizer"/>).
/// </summary>
public static class CheckpointExport
{
    /// <summary>
    /// Writes the model's parameters as a version 0, 1 or 2 checkpoint (to a temporary file, then renamed over
    /// <paramref name="path"/>). Version 2 quantizes with <paramref name="groupSize"/>, backed off as
    /// <see cref="CheckpointQuantizer.FitGroupSize"/> does. Returns the layout written.
    /// </summary>
    public static CheckpointLayout Write(string path, TrainingModel model, int version = 0,
        int groupSize = CheckpointQuantizer.DefaultGroupSize)
    {
        if (version is not (0 or 1 or 2))
            throw new ArgumentOutOfRangeException(nameof(version), version, "llama2.c checkpoints are version 0 (legacy), 1 or 2 (int8)");
        var config = model.Config;
        var rope = new Rope(config.HeadSize, config.SeqLen);
        Action<TensorKind, long, Span<float>> fill = (tensor, start, chunk) =>
        {
            switch (tensor)
            {
                case TensorKind.FreqCisReal: RopeTable(rope, cos: true, start, chunk); break;
                case TensorKind.FreqCisImag: RopeTable(rope, cos: false, start, chunk); break;
                default: model.Parameters.Slice(checked((int)(model.Layout.Offset(tensor) + start)), chunk.Length).CopyTo(chunk); break;
            }
        };
        var layout = version == 2
            ? CheckpointQuantizer.LayoutFor(config, CheckpointQuantizer.FitGroupSize(config, groupSize), fill)
            : new CheckpointLayout(config, version);
        string temporary = path + ".partial";
        try
        {
            CheckpointWriter.Write(temporary, layout, fill);
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            File.Delete(temporary); // gone already after the move
        }
        return layout;
    }

    /// <summary>
    /// Exports the model of a training checkpoint (<see cref="Checkpoints.TrainingCheckpoint"/>, e.g. out/checkpoint.bin)
    /// as a llama2.c checkpoint of the given version (and, for version 2, group size). Returns the layout written.
    /// </summary>
    public static CheckpointLayout FromTrainingCheckpoint(string trainingCheckpointPath, string path, int version,
        int groupSize = CheckpointQuantizer.DefaultGroupSize)
    {
        var config = Checkpoints.TrainingCheckpoint.ReadHeader(trainingCheckpointPath).Config;
        var model = new TrainingModel(config, sequences: 1);
        Checkpoints.TrainingCheckpoint.Load(trainingCheckpointPath, model, optimizer: null);
        return Write(path, model, version, groupSize);
    }

    /// <summary>The legacy format's freq_cis_real (cos) or freq_cis_imag (sin), seq_len × head_size / 2, from element start on.</summary>
    static void RopeTable(Rope rope, bool cos, long start, Span<float> chunk)
    {
        for (int i = 0; i < chunk.Length; i++)
        {
            long index = start + i;
            int pos = (int)(index / rope.Pairs), pair = (int)(index % rope.Pairs);
            chunk[i] = (cos ? rope.Cos(pos) : rope.Sin(pos))[pair];
        }
    }

    /// <summary>
    /// The shape of a llama2.c checkpoint (version 0 or 1, fp32); a file the engine cannot read throws
    /// <see cref="CheckpointFormatException"/>, one whose classifier is not the embedding an <see cref="ArgumentException"/>.
    /// </summary>
    public static ModelConfig ReadConfig(string path)
    {
        using var checkpoint = Checkpoint.Open(path);
        return RequireShared(checkpoint);
    }

    /// <summary>Reads a checkpoint's weights into the model, whose shape must be the checkpoint's.</summary>
    public static void Read(string path, TrainingModel model)
    {
        using var checkpoint = Checkpoint.Open(path);
        var config = RequireShared(checkpoint);
        if (config != model.Config) throw new ArgumentException($"{path} holds a model of {config}, not {model.Config}");
        var parameters = model.Parameters;
        foreach (var tensor in model.Layout.Tensors)
        {
            long count = model.Layout.ElementCount(tensor);
            var bytes = checkpoint.Bytes(checkpoint.Layout.OffsetOf(tensor), checked((int)(count * sizeof(float))));
            MemoryMarshal.Cast<byte, float>(bytes).CopyTo(parameters.Slice((int)model.Layout.Offset(tensor), (int)count));
        }
        model.ParametersChanged();
    }

    static ModelConfig RequireShared(Checkpoint checkpoint) =>
        checkpoint.Config.SharedClassifier ? checkpoint.Config
            : throw new ArgumentException($"{checkpoint.Path} has a classifier of its own; the trainer ties the classifier to the embedding (model.py)");
}

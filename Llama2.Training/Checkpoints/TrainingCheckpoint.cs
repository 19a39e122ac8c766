using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Llama2.Engine.Model;
using Llama2.Training.Model;
using Llama2.Training.Optimization;

namespace Llama2.Training.Checkpoints;

/// <summary>
/// Everything a run needs to continue exactly where it stopped: the options, the step, the batch generator's state,
/// the parameters and AdamW's moments and step count. A little-endian binary file: the magic "L2TRAIN1", a JSON
/// header, then the three float buffers in the trainer's layout.
/// </summary>
public sealed class TrainingCheckpoint
{
    const string Magic = "L2TRAIN1";

    public required TrainingOptions Options { get; init; }
    public required ModelConfig Config { get; init; }
    /// <summary>Optimiser steps taken.</summary>
    public required long Step { get; init; }
    /// <summary>The training batches' generator state after those steps.</summary>
    public required ulong BatchRandomState { get; init; }
    public required long OptimizerSteps { get; init; }

    /// <summary>Writes the model's and optimiser's state (to a temporary file, renamed over <paramref name="path"/>).</summary>
    public void Save(string path, TrainingModel model, AdamW optimizer)
    {
        string temporary = path + ".partial";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            var header = JsonSerializer.SerializeToUtf8Bytes(new Header(Options, Config, Step, BatchRandomState, OptimizerSteps));
            stream.Write(Encoding.ASCII.GetBytes(Magic));
            stream.Write(BitConverter.GetBytes(header.Length));
            stream.Write(header);
            stream.Write(MemoryMarshal.AsBytes((ReadOnlySpan<float>)model.Parameters));
            stream.Write(MemoryMarshal.AsBytes((ReadOnlySpan<float>)optimizer.M));
            stream.Write(MemoryMarshal.AsBytes((ReadOnlySpan<float>)optimizer.V));
        }
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Reads a checkpoint's header (options, shape, step); a file that is not one throws <see cref="InvalidDataException"/>.</summary>
    public static TrainingCheckpoint ReadHeader(string path)
    {
        using var stream = OpenRead(path);
        return ReadHeader(stream, path);
    }

    /// <summary>
    /// Reads the checkpoint's parameters into the model (made for <see cref="Config"/>), and AdamW's moments into the
    /// optimiser unless it is null (an export needs only the parameters).
    /// </summary>
    public static TrainingCheckpoint Load(string path, TrainingModel model, AdamW? optimizer)
    {
        using var stream = OpenRead(path);
        var checkpoint = ReadHeader(stream, path);
        if (checkpoint.Config != model.Config) throw new InvalidDataException($"{path} holds a model of {checkpoint.Config}, not {model.Config}");
        long expected = stream.Position + 3L * model.Parameters.Length * sizeof(float);
        if (stream.Length != expected)
            throw new InvalidDataException($"{path} is {stream.Length} bytes; a checkpoint of {checkpoint.Config} is {expected} ({(stream.Length < expected ? "truncated" : "trailing data")})");
        stream.ReadExactly(MemoryMarshal.AsBytes(model.Parameters));
        model.ParametersChanged();
        if (optimizer is null) return checkpoint;
        stream.ReadExactly(MemoryMarshal.AsBytes(optimizer.M));
        stream.ReadExactly(MemoryMarshal.AsBytes(optimizer.V));
        optimizer.StepCount = checkpoint.OptimizerSteps;
        return checkpoint;
    }

    static FileStream OpenRead(string path) =>
        File.Exists(path) ? new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20)
            : throw new FileNotFoundException($"no training checkpoint at {path}", path);

    static TrainingCheckpoint ReadHeader(FileStream stream, string path)
    {
        Span<byte> start = stackalloc byte[Magic.Length + sizeof(int)];
        if (stream.ReadAtLeast(start, start.Length, throwOnEndOfStream: false) < start.Length || Encoding.ASCII.GetString(start[..Magic.Length]) != Magic)
            throw new InvalidDataException($"{path} is not a training checkpoint (no {Magic} magic)");
        int length = BitConverter.ToInt32(start[Magic.Length..]);
        if (length <= 0 || length > 1 << 20 || length > stream.Length - stream.Position)
            throw new InvalidDataException($"{path}: the checkpoint header's length {length} is not valid");
        var json = new byte[length];
        stream.ReadExactly(json);
        Header header;
        try
        {
            header = JsonSerializer.Deserialize<Header>(json) ?? throw new InvalidDataException($"{path}: empty checkpoint header");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: the checkpoint header is not valid: {e.Message}", e);
        }
        return new TrainingCheckpoint
        {
            Options = header.Options, Config = header.Config, Step = header.Step,
            BatchRandomState = header.BatchRandomState, OptimizerSteps = header.OptimizerSteps,
        };
    }

    sealed record Header(TrainingOptions Options, ModelConfig Config, long Step, ulong BatchRandomState, long OptimizerSteps);
}

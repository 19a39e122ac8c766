using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using Llama2.Engine.Formats;
using Llama2.Engine.Kernels;

namespace Llama2.Engine.Model;

/// <summary>
/// A model's weights, ready to compute with: a llama2.c .bin memory-mapped read-only; the version 2 image of a model
/// quantized at load (<see cref="QuantizeInMemory"/>); or a Hugging Face folder or GGUF file (<see cref="ExternalModel"/>)
/// served from its own mapped tensors. The weights of a file are never copied (except a GGUF file's Q8_0 matrices,
/// repacked into llama2.c's int8 layout, see <see cref="ExternalWeights"/>): the operating system pages them in as the
/// forward pass touches them, so opening even a large file is quick.
/// </summary>
public sealed unsafe class Checkpoint : IDisposable
{
    readonly MemoryMappedFile? _file;
    readonly MemoryMappedViewAccessor? _view;
    readonly byte* _base;
    readonly CheckpointLayout? _layout;
    readonly ExternalModel? _external;
    readonly ExternalWeights? _externalWeights;
    bool _disposed;

    Checkpoint(string path, CheckpointLayout layout, byte* basePointer, bool quantizedAtLoad, string format,
        Vocabulary? vocabulary = null, MemoryMappedFile? file = null, MemoryMappedViewAccessor? view = null)
    {
        Path = path;
        _file = file;
        _view = view;
        _base = basePointer;
        _layout = layout;
        QuantizedAtLoad = quantizedAtLoad;
        Format = format;
        Vocabulary = vocabulary;
        FileBytes = layout.FileBytes;
        Weights = TransformerWeights.Of(layout, basePointer);
    }

    Checkpoint(ExternalModel model, ExternalWeights weights)
    {
        Path = model.Path;
        _external = model;
        _externalWeights = weights;
        Weights = weights.Weights;
        Format = model is Formats.Gguf.GgufModel ? "gguf" : "safetensors";
        Vocabulary = model.Vocabulary;
        VocabularyNote = model.VocabularyNote;
        FileBytes = model.WeightSlots().Select(w => model.Tensor(w.Kind, w.Layer).FilePath).Distinct().Sum(f => new FileInfo(f).Length);
        RepackedBytes = weights.RepackedBytes;
    }

    /// <summary>The file or folder (for a checkpoint quantized at load, the one it was quantized from).</summary>
    public string Path { get; }
    /// <summary>The .bin layout; only for llama2.c checkpoints (files and images quantized at load).</summary>
    public CheckpointLayout Layout => _layout ?? throw new InvalidOperationException($"{Path} is a {Format} model, not a llama2.c checkpoint");
    public ModelConfig Config => Weights.Config;
    public TransformerWeights Weights { get; }
    /// <summary>Bytes of the checkpoint: the file's size (a folder's: its weight files'), or the size of the image quantized at load.</summary>
    public long FileBytes { get; }
    /// <summary>Whether the weights were quantized from a float model at load (<see cref="QuantizeInMemory"/>).</summary>
    public bool QuantizedAtLoad { get; }
    /// <summary>The format of the file(s) loaded: <c>llama2.c v0</c> (v1, v2), <c>safetensors</c> or <c>gguf</c>.</summary>
    public string Format { get; }
    /// <summary>The vocabulary stored with a Hugging Face or GGUF model, if any (<see cref="VocabularyNote"/> says why not).</summary>
    public Vocabulary? Vocabulary { get; }
    public string? VocabularyNote { get; }
    /// <summary>Bytes of GGUF Q8_0 matrices repacked into llama2.c's int8 layout at load (0 for other models).</summary>
    public long RepackedBytes { get; }

    /// <summary>The weights' format, as shown to users: <c>none</c> (float weights), <c>q8_0 (file)</c> or <c>q8_0 (at load)</c>.</summary>
    public string Quantization => Weights.Format switch
    {
        WeightFormat.Q8_0 => QuantizedAtLoad ? "q8_0 (at load)" : "q8_0 (file)",
        _ => "none",
    };

    /// <summary>The type the matrices are computed in: <c>float32</c>, <c>bfloat16</c>, <c>float16</c> or <c>int8</c>.</summary>
    public string WeightType => Weights.Format switch
    {
        WeightFormat.BF16 => "bfloat16",
        WeightFormat.F16 => "float16",
        WeightFormat.Q8_0 => "int8",
        _ => "float32",
    };

    /// <summary>
    /// Unmaps the pages of a Hugging Face or GGUF model's tensor once a single pass has read them (quantizing at load:
    /// memory then holds one tensor of the source at a time besides the image; see <see cref="MappedTensor.Forget"/>).
    /// A later read maps them again. Nothing for a .bin.
    /// </summary>
    internal void ForgetSource(TensorKind kind, int layer) => _external?.Tensor(kind, layer).Forget();

    /// <summary>Part of the checkpoint: <paramref name="length"/> bytes from <paramref name="offset"/>, read-only.</summary>
    public ReadOnlySpan<byte> Bytes(long offset, int length)
    {
        _ = Layout; // a llama2.c checkpoint's bytes only
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (offset > FileBytes - length) throw new ArgumentOutOfRangeException(nameof(length), "past the end of the file");
        return new ReadOnlySpan<byte>(_base + offset, length);
    }

    /// <summary>
    /// Opens and checks a model: a llama2.c .bin, a GGUF file, or a Hugging Face folder (config.json and safetensors);
    /// every problem with the files is a <see cref="CheckpointFormatException"/>.
    /// </summary>
    public static Checkpoint Open(string path)
    {
        if (Directory.Exists(path) || (File.Exists(path) && Formats.Gguf.GgufFile.HasMagic(path))) return OpenExternal(path);
        if (!File.Exists(path) && ExternalModel.Recognizes(path)) throw new CheckpointFormatException(path, "GGUF file not found");
        if (!File.Exists(path))
            throw new CheckpointFormatException(path, "checkpoint file not found");

        CheckpointLayout layout;
        long length;
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read))
        {
            length = stream.Length; // of the file itself, also when path is a symbolic link (FileInfo gives the link's)
            var header = new byte[CheckpointLayout.Version1HeaderBytes];
            int read = stream.ReadAtLeast(header, header.Length, throwOnEndOfStream: false);
            layout = CheckpointHeader.Parse(header.AsSpan(0, read), path);
        }
        if (length != layout.FileBytes)
            throw new CheckpointFormatException(path,
                $"file is {length} bytes but a version {layout.Version} checkpoint of {layout.Config}" +
                (layout.Version == 2 ? $", group size {layout.GroupSize}," : "") +
                $" must be exactly {layout.FileBytes} bytes ({(length < layout.FileBytes ? "truncated" : "trailing data")})");

        var file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, mapName: null, 0, MemoryMappedFileAccess.Read);
        var view = file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        byte* pointer = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        PageCache.PreferHugePages(pointer + view.PointerOffset, length);
        return new Checkpoint(path, layout, pointer + view.PointerOffset, quantizedAtLoad: false, $"llama2.c v{layout.Version}",
            file: file, view: view);
    }

    /// <summary>A Hugging Face folder or a GGUF file, served from its mapped tensors.</summary>
    static Checkpoint OpenExternal(string path)
    {
        var model = ExternalModel.Open(System.IO.Path.TrimEndingDirectorySeparator(path));
        try
        {
            return new Checkpoint(model, ExternalWeights.Of(model));
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The version 2 (Q8_0) checkpoint that <c>Llama2.Cli quantize</c> would write from the fp32 checkpoint
    /// <paramref name="source"/> (or from a bf16/fp16 model, its values widened), built in memory instead of a file
    /// (<see cref="CheckpointQuantizer"/>); the source can be closed afterwards. <paramref name="groupSize"/> backs off as the quantize command's does.
    /// </summary>
    public static Checkpoint QuantizeInMemory(Checkpoint source, int groupSize = CheckpointQuantizer.DefaultGroupSize,
        IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        var layout = CheckpointQuantizer.LayoutFor(source, CheckpointQuantizer.FitGroupSize(source.Config, groupSize));
        // 2 MiB-aligned and in 2 MiB pages where the system gives them: decoding streams all of it every token.
        const int HugePage = 2 << 20;
        var image = (byte*)NativeMemory.AlignedAlloc((nuint)layout.FileBytes, HugePage);
        try
        {
            PageCache.PreferHugePages(image, layout.FileBytes);
            using (var stream = new UnmanagedMemoryStream(image, 0, layout.FileBytes, FileAccess.Write))
                CheckpointQuantizer.Write(source, layout, stream, progress, cancellationToken);
            return new Checkpoint(source.Path, layout, image, quantizedAtLoad: true, source.Format, source.Vocabulary);
        }
        catch
        {
            NativeMemory.AlignedFree(image);
            throw;
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_external is not null)
        {
            _externalWeights!.Dispose();
            _external.Dispose();
        }
        else if (_view is not null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
            _file!.Dispose();
        }
        else NativeMemory.AlignedFree(_base);
    }
}

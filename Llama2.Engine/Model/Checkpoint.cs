using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using Llama2.Engine.Kernels;

namespace Llama2.Engine.Model;

/// <summary>
/// A llama2.c checkpoint's bytes: a file memory-mapped read-only, or (<see cref="QuantizeInMemory"/>) the version 2
/// image of an fp32 file, quantized at load. The weights of a file are never copied: the operating system pages them
/// in as the forward pass touches them, so opening even a large file is instant.
/// </summary>
public sealed unsafe class Checkpoint : IDisposable
{
    readonly MemoryMappedFile? _file;
    readonly MemoryMappedViewAccessor? _view;
    readonly byte* _base;
    bool _disposed;

    Checkpoint(string path, CheckpointLayout layout, byte* basePointer, bool quantizedAtLoad,
        MemoryMappedFile? file = null, MemoryMappedViewAccessor? view = null)
    {
        Path = path;
        _file = file;
        _view = view;
        _base = basePointer;
        Layout = layout;
        QuantizedAtLoad = quantizedAtLoad;
        Weights = new TransformerWeights(layout, basePointer);
    }

    /// <summary>The file (for a checkpoint quantized at load, the fp32 file it was quantized from).</summary>
    public string Path { get; }
    public CheckpointLayout Layout { get; }
    public ModelConfig Config => Layout.Config;
    public TransformerWeights Weights { get; }
    /// <summary>Bytes of the checkpoint: the file's size, or the size of the image quantized at load.</summary>
    public long FileBytes => Layout.FileBytes;
    /// <summary>Whether the weights were quantized from an fp32 file at load (<see cref="QuantizeInMemory"/>).</summary>
    public bool QuantizedAtLoad { get; }

    /// <summary>The weights' format, as shown to users: <c>none</c> (fp32), <c>q8_0 (file)</c> or <c>q8_0 (at load)</c>.</summary>
    public string Quantization => Layout.Format switch
    {
        WeightFormat.Q8_0 => QuantizedAtLoad ? "q8_0 (at load)" : "q8_0 (file)",
        _ => "none",
    };

    /// <summary>Part of the checkpoint: <paramref name="length"/> bytes from <paramref name="offset"/>, read-only.</summary>
    public ReadOnlySpan<byte> Bytes(long offset, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (offset > FileBytes - length) throw new ArgumentOutOfRangeException(nameof(length), "past the end of the file");
        return new ReadOnlySpan<byte>(_base + offset, length);
    }

    /// <summary>Opens and checks a checkpoint; every problem with the file is a <see cref="CheckpointFormatException"/>.</summary>
    public static Checkpoint Open(string path)
    {
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
        return new Checkpoint(path, layout, pointer + view.PointerOffset, quantizedAtLoad: false, file, view);
    }

    /// <summary>
    /// The version 2 (Q8_0) checkpoint that <c>Llama2.Cli quantize</c> would write from the fp32 checkpoint
    /// <paramref name="source"/>, built in memory instead of a file (<see cref="CheckpointQuantizer"/>); the source can be
    /// closed afterwards. <paramref name="groupSize"/> backs off as the quantize command's does.
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
            return new Checkpoint(source.Path, layout, image, quantizedAtLoad: true);
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
        if (_view is not null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
            _file!.Dispose();
        }
        else NativeMemory.AlignedFree(_base);
    }
}

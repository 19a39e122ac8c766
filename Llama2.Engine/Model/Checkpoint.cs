using System.IO.MemoryMappedFiles;

namespace Llama2.Engine.Model;

/// <summary>
/// A llama2.c checkpoint, memory-mapped read-only. The weights are never copied: the operating system pages them in
/// as the forward pass touches them, so opening even a large file is instant.
/// </summary>
public sealed unsafe class Checkpoint : IDisposable
{
    readonly MemoryMappedFile _file;
    readonly MemoryMappedViewAccessor _view;
    readonly byte* _base;

    Checkpoint(string path, MemoryMappedFile file, MemoryMappedViewAccessor view, byte* basePointer, CheckpointLayout layout)
    {
        Path = path;
        _file = file;
        _view = view;
        _base = basePointer;
        Layout = layout;
        Weights = new TransformerWeights(layout, basePointer);
    }

    public string Path { get; }
    public CheckpointLayout Layout { get; }
    public ModelConfig Config => Layout.Config;
    public TransformerWeights Weights { get; }
    public long FileBytes => Layout.FileBytes;

    /// <summary>Part of the mapped file: <paramref name="length"/> bytes from <paramref name="offset"/>, read-only.</summary>
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
                $"file is {length} bytes but a version {layout.Version} checkpoint of {layout.Config} " +
                $"must be exactly {layout.FileBytes} bytes ({(length < layout.FileBytes ? "truncated" : "trailing data")})");

        var file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, mapName: null, 0, MemoryMappedFileAccess.Read);
        var view = file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        byte* pointer = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        PageCache.PreferHugePages(pointer + view.PointerOffset, length);
        return new Checkpoint(path, file, view, pointer + view.PointerOffset, layout);
    }

    public void Dispose()
    {
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _file.Dispose();
    }
}

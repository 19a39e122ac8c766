using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using Llama2.Engine.Model;

namespace Llama2.Engine.Formats;

/// <summary>
/// A whole file memory-mapped read-only: its bytes are paged in as they are read, never copied. The pointer stays valid
/// until <see cref="Dispose"/>.
/// </summary>
public sealed unsafe partial class MappedFile : IDisposable
{
    readonly MemoryMappedFile? _file;
    readonly MemoryMappedViewAccessor? _view;
    bool _disposed;

    MappedFile(string path, long length, MemoryMappedFile? file, MemoryMappedViewAccessor? view, byte* start)
    {
        Path = path;
        Length = length;
        _file = file;
        _view = view;
        Start = start;
    }

    public string Path { get; }
    public long Length { get; }
    /// <summary>The first byte of the file (null for an empty file).</summary>
    public byte* Start { get; }

    /// <summary>Maps <paramref name="path"/>; a missing or unreadable file is a <see cref="CheckpointFormatException"/>.</summary>
    public static MappedFile Open(string path)
    {
        if (!File.Exists(path)) throw new CheckpointFormatException(path, "file not found");
        try
        {
            long length;
            using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read))
                length = stream.Length; // of the file itself, also when path is a symbolic link
            if (length == 0) return new MappedFile(path, 0, null, null, null);
            var file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, mapName: null, 0, MemoryMappedFileAccess.Read);
            var view = file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* pointer = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            return new MappedFile(path, length, file, view, pointer + view.PointerOffset);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointFormatException(path, $"cannot be read: {e.Message}");
        }
    }

    /// <summary>
    /// Maps <paramref name="path"/> and gives it to <paramref name="read"/>, which keeps the mapping in what it returns;
    /// when it throws, the mapping is released.
    /// </summary>
    public static T OpenWith<T>(string path, Func<MappedFile, T> read)
    {
        var file = Open(path);
        try
        {
            return read(file);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary><paramref name="length"/> bytes from <paramref name="offset"/>, which the caller has checked lie in the file.</summary>
    public ReadOnlySpan<byte> Bytes(long offset, int length)
    {
        if (offset < 0 || length < 0 || offset > Length - length)
            throw new ArgumentOutOfRangeException(nameof(offset), $"{offset}+{length} is outside the file's {Length} bytes");
        return new ReadOnlySpan<byte>(Start + offset, length);
    }

    /// <summary>
    /// Unmaps the pages of a range this process has read and will not read again (madvise MADV_DONTNEED; Linux only,
    /// best effort). They stay in the page cache; a later read maps them again. A pass over a whole model, such as a
    /// conversion, then holds one tensor's pages at a time instead of the model's.
    /// </summary>
    public void Forget(long offset, long length)
    {
        if (!OperatingSystem.IsLinux() || _view is null || length <= 0 || offset < 0 || offset > Length - length) return;
        long page = Environment.SystemPageSize;
        long first = (long)(Start + offset) & ~(page - 1), end = (long)(Start + offset + length);
        try
        {
            _ = Madvise((nint)first, (nuint)(end - first), MadvDontNeed);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
        }
    }

    const int MadvDontNeed = 4;

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(nint address, nuint length, int advice);

    public void Dispose()
    {
        if (_disposed || _view is null) return;
        _disposed = true;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _file!.Dispose();
    }
}

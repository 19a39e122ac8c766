using System.IO.MemoryMappedFiles;

namespace Llama2.Training.Batches;

/// <summary>
/// A pretokenized corpus file as llama2.c's pretokenize writes it: token ids as unsigned 16-bit little-endian
/// integers, nothing else. Memory-mapped, so a corpus larger than memory trains without being read whole.
/// </summary>
public sealed unsafe class TokenFile : ITokenSource, IDisposable
{
    readonly MemoryMappedFile? _file;
    readonly MemoryMappedViewAccessor? _view;
    readonly byte* _base;

    TokenFile(string path, long count, MemoryMappedFile? file, MemoryMappedViewAccessor? view, byte* pointer)
    {
        Path = path;
        Count = count;
        _file = file;
        _view = view;
        _base = pointer;
    }

    public string Path { get; }
    public long Count { get; }

    /// <summary>Opens a token file; a missing file or one of an odd number of bytes is an <see cref="InvalidDataException"/> saying so.</summary>
    public static TokenFile Open(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"token file not found: {path}", path);
        long length = new FileInfo(path).Length;
        if (length % 2 != 0) throw new InvalidDataException($"{path} is {length} bytes, not a whole number of 16-bit tokens");
        if (length == 0) return new TokenFile(path, 0, null, null, null);
        var file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, mapName: null, 0, MemoryMappedFileAccess.Read);
        var view = file.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
        byte* pointer = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        return new TokenFile(path, length / 2, file, view, pointer + view.PointerOffset);
    }

    public void CopyTo(long start, Span<int> destination)
    {
        if (start < 0 || start > Count - destination.Length) throw new ArgumentOutOfRangeException(nameof(start));
        var tokens = new ReadOnlySpan<byte>(_base + 2 * start, 2 * destination.Length);
        for (int i = 0; i < destination.Length; i++)
            destination[i] = tokens[2 * i] | tokens[2 * i + 1] << 8;
    }

    /// <summary>Writes tokens as a token file (tests and tools; ids must fit in 16 bits).</summary>
    public static void Write(string path, ReadOnlySpan<int> tokens)
    {
        var bytes = new byte[2 * tokens.Length];
        for (int i = 0; i < tokens.Length; i++)
        {
            if ((uint)tokens[i] > ushort.MaxValue) throw new ArgumentOutOfRangeException(nameof(tokens), tokens[i], "a token id must fit in 16 bits");
            (bytes[2 * i], bytes[2 * i + 1]) = ((byte)tokens[i], (byte)(tokens[i] >> 8));
        }
        File.WriteAllBytes(path, bytes);
    }

    public void Dispose()
    {
        if (_view is null) return;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _file!.Dispose();
    }
}

using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using Llama2.Training.Data;

namespace Llama2.Training.Batches;

/// <summary>
/// A pretokenized corpus file (see <see cref="TokenDataType"/>): token ids as little-endian unsigned 16-bit integers,
/// as llama2.c's pretokenize writes them, or 32-bit ones for larger vocabularies; nothing else. Memory-mapped, so a
/// corpus larger than memory trains without being read whole.
/// </summary>
public sealed unsafe class TokenFile : ITokenSource, IDisposable
{
    readonly MemoryMappedFile? _file;
    readonly MemoryMappedViewAccessor? _view;
    readonly byte* _base;

    TokenFile(string path, TokenDataType dataType, long count, MemoryMappedFile? file, MemoryMappedViewAccessor? view, byte* pointer)
    {
        Path = path;
        DataType = dataType;
        Count = count;
        _file = file;
        _view = view;
        _base = pointer;
    }

    public string Path { get; }
    public TokenDataType DataType { get; }
    public long Count { get; }

    /// <summary>
    /// Opens a token file; a missing file is a <see cref="FileNotFoundException"/>, one that is not a whole number of
    /// tokens an <see cref="InvalidDataException"/>, each saying so.
    /// </summary>
    public static TokenFile Open(string path, TokenDataType dataType = TokenDataType.UInt16)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"token file not found: {path}", path);
        long length = new FileInfo(path).Length;
        int size = dataType.BytesPerToken();
        if (length % size != 0) throw new InvalidDataException($"{path} is {length} bytes, not a whole number of {8 * size}-bit tokens");
        if (length == 0) return new TokenFile(path, dataType, 0, null, null, null);
        var file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, mapName: null, 0, MemoryMappedFileAccess.Read);
        var view = file.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
        byte* pointer = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        return new TokenFile(path, dataType, length / size, file, view, pointer + view.PointerOffset);
    }

    public void CopyTo(long start, Span<int> destination)
    {
        if (start < 0 || start > Count - destination.Length) throw new ArgumentOutOfRangeException(nameof(start));
        if (DataType == TokenDataType.Int32)
        {
            var tokens32 = new ReadOnlySpan<byte>(_base + 4 * start, 4 * destination.Length);
            for (int i = 0; i < destination.Length; i++) destination[i] = BinaryPrimitives.ReadInt32LittleEndian(tokens32[(4 * i)..]);
            return;
        }
        var tokens = new ReadOnlySpan<byte>(_base + 2 * start, 2 * destination.Length);
        for (int i = 0; i < destination.Length; i++) destination[i] = BinaryPrimitives.ReadUInt16LittleEndian(tokens[(2 * i)..]);
    }

    public void Dispose()
    {
        if (_view is null) return;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _file!.Dispose();
    }
}

using System.Buffers.Binary;
using Llama2.Engine.Formats;
using Llama2.Training.Data;

namespace Llama2.Training.Batches;

/// <summary>
/// A pretokenized corpus file (see <see cref="TokenDataType"/>): token ids as little-endian unsigned 16-bit integers,
/// as llama2.c's pretokenize writes them, or 32-bit ones for larger vocabularies; nothing else. Memory-mapped, so a
/// corpus larger than memory trains without being read whole.
/// </summary>
public sealed class TokenFile : ITokenSource, IDisposable
{
    readonly MappedFile _file;

    TokenFile(MappedFile file, TokenDataType dataType)
    {
        _file = file;
        DataType = dataType;
    }

    public string Path => _file.Path;
    public TokenDataType DataType { get; }
    public long Count => _file.Length / DataType.BytesPerToken();

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
        return new TokenFile(MappedFile.Open(path), dataType);
    }

    public void CopyTo(long start, Span<int> destination)
    {
        if (start < 0 || start > Count - destination.Length) throw new ArgumentOutOfRangeException(nameof(start));
        if (DataType == TokenDataType.Int32)
        {
            var tokens32 = _file.Bytes(4 * start, 4 * destination.Length);
            for (int i = 0; i < destination.Length; i++) destination[i] = BinaryPrimitives.ReadInt32LittleEndian(tokens32[(4 * i)..]);
            return;
        }
        var tokens = _file.Bytes(2 * start, 2 * destination.Length);
        for (int i = 0; i < destination.Length; i++) destination[i] = BinaryPrimitives.ReadUInt16LittleEndian(tokens[(2 * i)..]);
    }

    public void Dispose() => _file.Dispose();
}

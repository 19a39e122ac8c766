using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;

namespace Llama2.Training.Data;

/// <summary>A token file (see <see cref="TokenDataType"/>), memory-mapped for reading.</summary>
public sealed unsafe class TokenFile : IDisposable
{
    readonly MemoryMappedFile? _file;
    readonly MemoryMappedViewAccessor? _view;
    readonly byte* _data;

    TokenFile(string path, TokenDataType dataType)
    {
        DataType = dataType;
        long length = new FileInfo(path).Length;
        if (length % dataType.BytesPerToken() != 0)
            throw new TrainingDataException($"{path}: {length} bytes is not a whole number of {dataType} tokens");
        Count = length / dataType.BytesPerToken();
        if (length == 0) return;
        _file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        _view = _file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref _data);
    }

    public static TokenFile Open(string path, TokenDataType dataType) =>
        File.Exists(path) ? new TokenFile(path, dataType) : throw new TrainingDataException($"token file '{path}' not found");

    public TokenDataType DataType { get; }

    public long Count { get; }

    public int this[long index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfNegative(index);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
            return DataType == TokenDataType.UInt16
                ? BinaryPrimitives.ReadUInt16LittleEndian(new ReadOnlySpan<byte>(_data + 2 * index, 2))
                : BinaryPrimitives.ReadInt32LittleEndian(new ReadOnlySpan<byte>(_data + 4 * index, 4));
        }
    }

    /// <summary>Copies tokens <paramref name="start"/> .. start + destination.Length − 1.</summary>
    public void CopyTo(long start, Span<int> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(start + destination.Length, Count);
        for (int i = 0; i < destination.Length; i++) destination[i] = this[start + i];
    }

    public void Dispose()
    {
        if (_view is null) return;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _file!.Dispose();
    }
}

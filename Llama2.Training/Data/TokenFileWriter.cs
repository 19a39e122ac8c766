using System.Buffers.Binary;

namespace Llama2.Training.Data;

/// <summary>Appends tokens to a token file (see <see cref="TokenDataType"/>) through a buffer.</summary>
internal sealed class TokenFileWriter(string path, TokenDataType dataType) : IDisposable
{
    readonly FileStream _file = new(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
    readonly byte[] _buffer = new byte[1 << 16];
    int _used;

    public long Count { get; private set; }

    public void Write(List<int> tokens)
    {
        int size = dataType.BytesPerToken();
        foreach (int token in tokens)
        {
            if (_used + size > _buffer.Length) Flush();
            if (dataType == TokenDataType.UInt16) BinaryPrimitives.WriteUInt16LittleEndian(_buffer.AsSpan(_used), checked((ushort)token));
            else BinaryPrimitives.WriteInt32LittleEndian(_buffer.AsSpan(_used), token);
            _used += size;
        }
        Count += tokens.Count;
    }

    void Flush()
    {
        _file.Write(_buffer, 0, _used);
        _used = 0;
    }

    public void Dispose()
    {
        Flush();
        _file.Dispose();
    }
}

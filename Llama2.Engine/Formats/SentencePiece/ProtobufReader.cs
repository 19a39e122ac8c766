namespace Llama2.Engine.Formats.SentencePiece;

/// <summary>
/// Reads Protocol Buffers' wire format, the little of it a SentencePiece model needs: tags, varints, 32- and 64-bit
/// fixed values and length-delimited fields (strings and nested messages). Malformed input throws
/// <see cref="FormatException"/>.
/// </summary>
ref struct ProtobufReader(ReadOnlySpan<byte> bytes)
{
    public const int Varint = 0, Fixed64 = 1, LengthDelimited = 2, Fixed32 = 5;

    readonly ReadOnlySpan<byte> _bytes = bytes;
    int _position;

    public readonly bool AtEnd => _position >= _bytes.Length;

    /// <summary>The next field's number and wire type.</summary>
    public (int Field, int WireType) ReadTag()
    {
        ulong tag = ReadVarint();
        if (tag >> 3 is 0 or > int.MaxValue) throw new FormatException($"field number {tag >> 3} at byte {_position}");
        return ((int)(tag >> 3), (int)(tag & 7));
    }

    public ulong ReadVarint()
    {
        ulong value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (_position >= _bytes.Length) throw new FormatException("a varint runs past the end");
            byte b = _bytes[_position++];
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return value;
        }
        throw new FormatException($"a varint longer than 10 bytes at byte {_position}");
    }

    /// <summary>An int32 field: negative values are sign-extended to 64 bits on the wire.</summary>
    public int ReadInt32() => (int)(long)ReadVarint();

    public float ReadFloat() => BitConverter.Int32BitsToSingle(System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(Take(4)));

    public ReadOnlySpan<byte> ReadLengthDelimited()
    {
        ulong length = ReadVarint();
        if (length > (ulong)(_bytes.Length - _position))
            throw new FormatException($"a field of {length} bytes at byte {_position} runs past the end");
        return Take((int)length);
    }

    /// <summary>Skips a field of a type the caller does not read.</summary>
    public void Skip(int wireType)
    {
        switch (wireType)
        {
            case Varint: ReadVarint(); break;
            case Fixed64: Take(8); break;
            case LengthDelimited: ReadLengthDelimited(); break;
            case Fixed32: Take(4); break;
            default: throw new FormatException($"wire type {wireType} at byte {_position}");
        }
    }

    ReadOnlySpan<byte> Take(int count)
    {
        if (count > _bytes.Length - _position) throw new FormatException($"{count} bytes at byte {_position} run past the end");
        var span = _bytes.Slice(_position, count);
        _position += count;
        return span;
    }
}

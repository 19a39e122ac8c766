using System.Buffers.Binary;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace Llama2.Engine.Formats;

/// <summary>
/// One tensor inside a memory-mapped model file: its name, element type, row-major shape (outermost dimension first,
/// as PyTorch writes it) and where its bytes are. Nothing is copied: <see cref="Data"/> points into the mapping, valid
/// while the model that opened the file is not disposed. <see cref="ReadFloats"/> widens or dequantizes a range of
/// elements to fp32, exactly (every F16, BF16 and Q8_0 value is a float).
/// </summary>
public sealed unsafe class MappedTensor
{
    readonly MappedFile _file;

    internal MappedTensor(MappedFile file, string name, TensorType type, long[] shape, long fileOffset)
    {
        _file = file;
        Name = name;
        Type = type;
        Shape = shape;
        ElementCount = shape.Aggregate(1L, (product, d) => product * d);
        FileOffset = fileOffset;
        ByteLength = type.ByteCount(ElementCount) ?? throw new ArgumentException("not whole blocks", nameof(shape));
    }

    public string Name { get; }
    /// <summary>The file the tensor is in.</summary>
    public string FilePath => _file.Path;
    public TensorType Type { get; }
    /// <summary>Row-major dimensions, outermost first: (rows, columns) for a matrix (out × in), (n) for a vector.</summary>
    public IReadOnlyList<long> Shape { get; }
    public long ElementCount { get; }
    /// <summary>Elements in one row (the last dimension).</summary>
    public long Columns => Shape.Count == 0 ? 1 : Shape[^1];
    public long Rows => ElementCount / Math.Max(1, Columns);
    /// <summary>Where the tensor's bytes start in its file, and how many there are.</summary>
    public long FileOffset { get; }
    public long ByteLength { get; }
    /// <summary>The tensor's first byte in the mapping: for kernels that read the stored type directly.</summary>
    public byte* Data => _file.Start + FileOffset;

    /// <summary>Unmaps the tensor's pages once a single pass has read them (see <see cref="MappedFile.Forget"/>).</summary>
    public void Forget() => _file.Forget(FileOffset, ByteLength);

    /// <summary>The shape as written in messages: [4096, 11008].</summary>
    public string ShapeText => $"[{string.Join(", ", Shape)}]";

    /// <summary>
    /// Elements <paramref name="first"/> .. first + destination.Length as fp32 (a row-major flat index, the whole tensor
    /// being one array).
    /// </summary>
    public void ReadFloats(long first, Span<float> destination)
    {
        if (first < 0 || first > ElementCount - destination.Length)
            throw new ArgumentOutOfRangeException(nameof(first), $"{first}+{destination.Length} is outside {Name}'s {ElementCount} elements");
        switch (Type)
        {
            case TensorType.F32:
                Raw(first * 4, destination.Length * 4).CopyTo(MemoryMarshal.AsBytes(destination));
                break;
            case TensorType.F16:
                TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(Raw(first * 2, destination.Length * 2)), destination);
                break;
            case TensorType.BF16:
                WidenBFloat16(MemoryMarshal.Cast<byte, ushort>(Raw(first * 2, destination.Length * 2)), destination);
                break;
            case TensorType.Q8_0:
                DequantizeQ8_0(first, destination);
                break;
            default:
                throw new InvalidOperationException($"no fp32 reading for {Type}");
        }
    }

    ReadOnlySpan<byte> Raw(long offset, int length) => new(Data + offset, length);

    /// <summary>bfloat16 to fp32: the 16 bits become the upper half of the float.</summary>
    static void WidenBFloat16(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        var bits = MemoryMarshal.Cast<float, uint>(destination);
        int i = 0;
        if (Vector.IsHardwareAccelerated)
            for (; i <= source.Length - Vector<ushort>.Count; i += Vector<ushort>.Count)
            {
                Vector.Widen(new Vector<ushort>(source[i..]), out var low, out var high);
                (low << 16).CopyTo(bits[i..]);
                (high << 16).CopyTo(bits[(i + Vector<uint>.Count)..]);
            }
        for (; i < source.Length; i++) bits[i] = (uint)source[i] << 16;
    }

    /// <summary>Q8_0: element j of block b is (sbyte)qs[j] × (float)d, d the block's fp16 scale.</summary>
    void DequantizeQ8_0(long first, Span<float> destination)
    {
        const int BlockElements = 32, BlockBytes = 34;
        for (int done = 0; done < destination.Length;)
        {
            long element = first + done;
            long block = element / BlockElements;
            int within = (int)(element % BlockElements);
            int count = Math.Min(BlockElements - within, destination.Length - done);
            var bytes = Raw(block * BlockBytes, BlockBytes);
            float scale = (float)BinaryPrimitives.ReadHalfLittleEndian(bytes);
            var quants = MemoryMarshal.Cast<byte, sbyte>(bytes[2..]);
            for (int j = 0; j < count; j++) destination[done + j] = quants[within + j] * scale;
            done += count;
        }
    }
}

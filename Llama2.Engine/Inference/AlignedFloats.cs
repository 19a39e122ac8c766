namespace Llama2.Engine.Inference;

/// <summary>
/// A float buffer whose first element sits on a 64-byte boundary (a cache line, one Vector512). Activation rows are
/// a multiple of 16 floats long in every model shape we know, so no kernel load of an activation straddles two
/// lines. A plain array starts wherever the GC put it, and a tile whose activation loads straddle lines costs two
/// cache accesses per load where it would cost one. Pinned, so the alignment holds.
/// </summary>
internal sealed unsafe class AlignedFloats
{
    const int Alignment = 64;
    readonly float[] _array;
    readonly int _offset;

    public AlignedFloats(int length)
    {
        _array = GC.AllocateArray<float>(length + Alignment / sizeof(float), pinned: true);
        fixed (float* p = _array)
            _offset = (int)((Alignment - (nint)p % Alignment) % Alignment) / sizeof(float);
        Length = length;
    }

    public int Length { get; }

    public Span<float> AsSpan(int start, int length)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((long)start + length, Length, nameof(length));
        return _array.AsSpan(_offset + start, length);
    }
}

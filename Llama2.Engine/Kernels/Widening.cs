using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Llama2.Engine.Kernels;

/// <summary>
/// 16-bit weights widened to fp32 vectors, exactly, at each width of the ladder.
/// <list type="bullet">
/// <item>bfloat16: zero-extend each 16-bit value and shift it into the upper half of the float.</item>
/// <item>fp16: .NET exposes no F16C conversion, so the bits are moved instead: sign, then exponent and mantissa
/// shifted into a float's places and multiplied by 2¹¹² (re-biasing the exponent from 15 to 127; exact, and it makes a
/// subnormal half a normal float), infinities and NaNs given the float's all-ones exponent, NaNs made quiet (as
/// F16C's vcvtph2ps does). This is
/// <see cref="Half"/>'s conversion to float, bit for bit, for every one of the 65536 values (tested).</item>
/// </list>
/// </summary>
internal static unsafe class Widening
{
    // A half's exponent and mantissa, shifted 13 places: at or above this it is an infinity or a NaN.
    const uint HalfInfinityShifted = 0x7C00u << 13;
    const uint FloatExponentBits = 0x7F800000u, FloatQuietBit = 0x00400000u;
    const float TwoTo112 = 5.192296858534828e33f; // 2^(127 − 15)

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> BFloat16x16(ushort* p)
    {
        var v = Vector256.Load(p);
        var wide = Avx512F.IsSupported ? Avx512F.ConvertToVector512UInt32(v) : Vector512.Create(Vector256.WidenLower(v), Vector256.WidenUpper(v));
        return (wide << 16).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> BFloat16x8(ushort* p)
    {
        var wide = Avx2.IsSupported ? Avx2.ConvertToVector256Int32(p).AsUInt32() : Vector256.Create(Vector128.WidenLower(Vector128.Load(p)), Vector128.WidenUpper(Vector128.Load(p)));
        return (wide << 16).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> BFloat16x4(ushort* p)
    {
        var wide = Sse41.IsSupported ? Sse41.ConvertToVector128Int32(p).AsUInt32() : Vector128.WidenLower(Vector128.CreateScalar(*(ulong*)p).AsUInt16());
        return (wide << 16).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Halfx16(ushort* p)
    {
        var v = Vector256.Load(p);
        return FromHalfBits(Avx512F.IsSupported ? Avx512F.ConvertToVector512UInt32(v) : Vector512.Create(Vector256.WidenLower(v), Vector256.WidenUpper(v)));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Halfx8(ushort* p) =>
        FromHalfBits(Avx2.IsSupported ? Avx2.ConvertToVector256Int32(p).AsUInt32() : Vector256.Create(Vector128.WidenLower(Vector128.Load(p)), Vector128.WidenUpper(Vector128.Load(p))));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Halfx4(ushort* p) =>
        FromHalfBits(Sse41.IsSupported ? Sse41.ConvertToVector128Int32(p).AsUInt32() : Vector128.WidenLower(Vector128.CreateScalar(*(ulong*)p).AsUInt16()));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> FromHalfBits(Vector512<uint> h)
    {
        var sign = (h & Vector512.Create(0x8000u)) << 16;
        var magnitude = (h & Vector512.Create(0x7FFFu)) << 13;
        var value = magnitude.AsSingle() * Vector512.Create(TwoTo112);
        var special = Vector512.GreaterThanOrEqual(magnitude, Vector512.Create(HalfInfinityShifted)) & Vector512.Create(FloatExponentBits);
        var quiet = Vector512.GreaterThan(magnitude, Vector512.Create(HalfInfinityShifted)) & Vector512.Create(FloatQuietBit);
        return (value.AsUInt32() | special | quiet | sign).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> FromHalfBits(Vector256<uint> h)
    {
        var sign = (h & Vector256.Create(0x8000u)) << 16;
        var magnitude = (h & Vector256.Create(0x7FFFu)) << 13;
        var value = magnitude.AsSingle() * Vector256.Create(TwoTo112);
        var special = Vector256.GreaterThanOrEqual(magnitude, Vector256.Create(HalfInfinityShifted)) & Vector256.Create(FloatExponentBits);
        var quiet = Vector256.GreaterThan(magnitude, Vector256.Create(HalfInfinityShifted)) & Vector256.Create(FloatQuietBit);
        return (value.AsUInt32() | special | quiet | sign).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<float> FromHalfBits(Vector128<uint> h)
    {
        var sign = (h & Vector128.Create(0x8000u)) << 16;
        var magnitude = (h & Vector128.Create(0x7FFFu)) << 13;
        var value = magnitude.AsSingle() * Vector128.Create(TwoTo112);
        var special = Vector128.GreaterThanOrEqual(magnitude, Vector128.Create(HalfInfinityShifted)) & Vector128.Create(FloatExponentBits);
        var quiet = Vector128.GreaterThan(magnitude, Vector128.Create(HalfInfinityShifted)) & Vector128.Create(FloatQuietBit);
        return (value.AsUInt32() | special | quiet | sign).AsSingle();
    }
}

using System.Runtime.CompilerServices;

namespace Llama2.Engine.Kernels;

// The element types are only ever read through pointers into stored weights, never constructed.
#pragma warning disable CS0649

/// <summary>
/// How one stored weight becomes an fp32 value, for the kernels that read fp32, bf16 and fp16 matrices alike
/// (<see cref="Tiles"/>, <see cref="GemmJob{TW}"/>): a vector of weights widened to a vector of floats, or one
/// weight to a float. Widening is exact (every bf16 and fp16 value is a float), so a 16-bit matrix gives bit for bit
/// what the fp32 matrix of the same values gives: the sums are the same, in the same order.
/// </summary>
internal unsafe interface IWeightElement<TSelf> where TSelf : unmanaged, IWeightElement<TSelf>
{
    /// <summary>TOps.Width weights from <paramref name="p"/> as floats.</summary>
    static abstract TVec Load<TVec, TOps>(TSelf* p) where TVec : struct where TOps : struct, IVectorOps<TVec>;
    static abstract float ToSingle(TSelf w);
}

/// <summary>An fp32 weight.</summary>
internal readonly struct Fp32Weight : IWeightElement<Fp32Weight>
{
    readonly float _value;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe TVec Load<TVec, TOps>(Fp32Weight* p) where TVec : struct where TOps : struct, IVectorOps<TVec> => TOps.Load((float*)p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(Fp32Weight w) => w._value;
}

/// <summary>A bfloat16 weight: the upper 16 bits of an fp32 value.</summary>
internal readonly struct BFloat16Weight : IWeightElement<BFloat16Weight>
{
    readonly ushort _bits;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe TVec Load<TVec, TOps>(BFloat16Weight* p) where TVec : struct where TOps : struct, IVectorOps<TVec> =>
        TOps.LoadBFloat16((ushort*)p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(BFloat16Weight w) => BitConverter.UInt32BitsToSingle((uint)w._bits << 16);
}

/// <summary>An IEEE half-precision (fp16) weight.</summary>
internal readonly struct HalfWeight : IWeightElement<HalfWeight>
{
    readonly ushort _bits;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe TVec Load<TVec, TOps>(HalfWeight* p) where TVec : struct where TOps : struct, IVectorOps<TVec> =>
        TOps.LoadHalf((ushort*)p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(HalfWeight w) => (float)BitConverter.UInt16BitsToHalf(w._bits);
}

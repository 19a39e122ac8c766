using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Llama2.Engine.Kernels;

/// <summary>
/// The vector operations of the int8 (Q8_0) kernels, for one width. Weights are int8 and activations int8 held as int16
/// (<see cref="QuantizedActivations"/>); a product of two int8 fits an int16, and the kernels multiply them as pairs of
/// int16 in each 32-bit lane, adding both products into the lane's int32 (x86's <c>pmaddwd</c>, or AVX-VNNI's
/// <c>vpdpwssd</c> where the CPU has it), so every integer sum is exact. (.NET 10 exposes no 512-bit VNNI, and this
/// machine's CPU does not report AVX-VNNI, so here every width runs on <c>pmaddwd</c>.) The float half of the kernels
/// (scaling each group's integer sum) runs on vectors of the same lane count.
/// </summary>
internal unsafe interface IQ8Ops<TInt, TFloat> where TInt : struct where TFloat : struct
{
    /// <summary>32-bit lanes per vector; a vector holds 2 × Lanes int16.</summary>
    static abstract int Lanes { get; }
    static abstract TInt Zero { get; }
    /// <summary>2 × Lanes int8 at p, sign-extended to int16.</summary>
    static abstract TInt Widen(sbyte* p);
    /// <summary>2 × Lanes int16 at p.</summary>
    static abstract TInt Load(short* p);
    static abstract void Store(int* p, TInt v);
    /// <summary>The two int16 at p in every lane.</summary>
    static abstract TInt BroadcastPair(short* p);
    /// <summary>acc + a.low · b.low + a.high · b.high in each 32-bit lane (a, b: two int16 per lane), exact.</summary>
    static abstract TInt MultiplyAddPairs(TInt acc, TInt a, TInt b);
    /// <summary>The sum of the lanes.</summary>
    static abstract int Sum(TInt v);
    /// <summary>
    /// Lanes rows (n int8 apart) of 2 × Lanes int8 each, sign-extended to pairs of int16 and transposed: pair j of row r
    /// to 32-bit lane j · Lanes + r of <paramref name="destination"/>.
    /// </summary>
    static abstract void PackPairs(sbyte* w, long n, int* destination);
    /// <summary>Lane i of the result = the sum of the lanes of vector i of the Lanes vectors at <paramref name="vectors"/>.</summary>
    static abstract TInt SumEach(int* vectors);
    /// <summary>Lanes rows of Lanes floats (<paramref name="stride"/> apart) transposed into <paramref name="destination"/>.</summary>
    static abstract void LoadTransposed(float* source, long stride, float* destination);

    static abstract TFloat ToFloat(TInt v);
    static abstract TFloat ZeroFloat { get; }
    static abstract TFloat LoadFloat(float* p);
    static abstract TFloat BroadcastFloat(float value);
    static abstract void StoreFloat(float* p, TFloat v);
    static abstract TFloat Add(TFloat a, TFloat b);
    static abstract TFloat Multiply(TFloat a, TFloat b);
}

/// <summary>Where a width has no pairwise multiply-add instruction: each int16 half of a lane sign-extended apart.</summary>
file static unsafe class PortablePairs
{
    /// <summary><see cref="IQ8Ops{TInt, TFloat}.SumEach"/> one sum at a time, through memory.</summary>
    public static TInt SumEach<TInt, TFloat, TOps>(int* vectors)
        where TInt : struct where TFloat : struct where TOps : struct, IQ8Ops<TInt, TFloat>
    {
        int lanes = TOps.Lanes;
        int* sums = stackalloc int[lanes];
        for (int i = 0; i < lanes; i++) sums[i] = TOps.Sum(TOps.Load((short*)(vectors + i * lanes)));
        return TOps.Load((short*)sums);
    }

    /// <summary><see cref="IQ8Ops{TInt, TFloat}.PackPairs"/> one pair at a time.</summary>
    public static void Pack(sbyte* w, long n, int* destination, int lanes)
    {
        for (int r = 0; r < lanes; r++)
            for (int j = 0; j < lanes; j++)
                destination[j * lanes + r] = (int)(ushort)(short)w[r * n + 2 * j] | (w[r * n + 2 * j + 1] << 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> MultiplyAdd(Vector128<int> acc, Vector128<int> a, Vector128<int> b) =>
        acc + ((a << 16) >> 16) * ((b << 16) >> 16) + (a >> 16) * (b >> 16);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> MultiplyAdd(Vector256<int> acc, Vector256<int> a, Vector256<int> b) =>
        acc + ((a << 16) >> 16) * ((b << 16) >> 16) + (a >> 16) * (b >> 16);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> MultiplyAdd(Vector512<int> acc, Vector512<int> a, Vector512<int> b) =>
        acc + ((a << 16) >> 16) * ((b << 16) >> 16) + (a >> 16) * (b >> 16);
}

internal unsafe struct Q8Ops512 : IQ8Ops<Vector512<int>, Vector512<float>>
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void LoadTransposed(float* source, long stride, float* destination) => Ops512.LoadTransposed(source, stride, destination);

    public static int Lanes => 16;
    public static Vector512<int> Zero => Vector512<int>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> Widen(sbyte* p) => Avx512BW.IsSupported
        ? Avx512BW.ConvertToVector512Int16(Vector256.Load(p)).AsInt32()
        : Vector512.Create(Q8Ops256.Widen(p), Q8Ops256.Widen(p + 16));

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<int> Load(short* p) => Vector512.Load((int*)p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(int* p, Vector512<int> v) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<int> BroadcastPair(short* p) => Vector512.Create(*(int*)p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> MultiplyAddPairs(Vector512<int> acc, Vector512<int> a, Vector512<int> b) => Avx512BW.IsSupported
        ? acc + Avx512BW.MultiplyAddAdjacent(a.AsInt16(), b.AsInt16())
        : PortablePairs.MultiplyAdd(acc, a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static int Sum(Vector512<int> v) => Vector512.Sum(v);

    /// <summary>
    /// A halving tree over sixteen vectors at once (as <see cref="LaneSums"/> sums floats): each step adds two vectors'
    /// halves in one add, so the 16 sums take 15 adds and 30 shuffles.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> SumEach(int* vectors)
    {
        if (!Avx512F.IsSupported) return PortablePairs.SumEach<Vector512<int>, Vector512<float>, Q8Ops512>(vectors);
        return SumEach(V(0), V(1), V(2), V(3), V(4), V(5), V(6), V(7), V(8), V(9), V(10), V(11), V(12), V(13), V(14), V(15));

        Vector512<int> V(int i) => Vector512.Load(vectors + 16 * i);
    }

    /// <summary>Lane i = the sum of the lanes of a<i>i</i> (AVX-512 only).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> SumEach(Vector512<int> a0, Vector512<int> a1, Vector512<int> a2, Vector512<int> a3,
        Vector512<int> a4, Vector512<int> a5, Vector512<int> a6, Vector512<int> a7, Vector512<int> a8, Vector512<int> a9,
        Vector512<int> a10, Vector512<int> a11, Vector512<int> a12, Vector512<int> a13, Vector512<int> a14, Vector512<int> a15) =>
        // The four steps leave the sum of input 4i + j in lane 4j + i, so the inputs go in transposed.
        Halves4(
            Halves3(Halves2(Halves1(F(a0), F(a4)), Halves1(F(a8), F(a12))), Halves2(Halves1(F(a1), F(a5)), Halves1(F(a9), F(a13)))),
            Halves3(Halves2(Halves1(F(a2), F(a6)), Halves1(F(a10), F(a14))), Halves2(Halves1(F(a3), F(a7)), Halves1(F(a11), F(a15)))));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> F(Vector512<int> v) => v.AsSingle();

    // Each step adds lane i to lane i + half within every group of its width, for two inputs at once (bits moved as
    // floats, added as integers).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Halves1(Vector512<float> a, Vector512<float> b) =>
        (Avx512F.Shuffle4x128(a, b, 0b01_00_01_00).AsInt32() + Avx512F.Shuffle4x128(a, b, 0b11_10_11_10).AsInt32()).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Halves2(Vector512<float> a, Vector512<float> b) =>
        (Avx512F.Shuffle4x128(a, b, 0b10_00_10_00).AsInt32() + Avx512F.Shuffle4x128(a, b, 0b11_01_11_01).AsInt32()).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Halves3(Vector512<float> a, Vector512<float> b) =>
        (Avx512F.Shuffle(a, b, 0b01_00_01_00).AsInt32() + Avx512F.Shuffle(a, b, 0b11_10_11_10).AsInt32()).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<int> Halves4(Vector512<float> a, Vector512<float> b) =>
        Avx512F.Shuffle(a, b, 0b10_00_10_00).AsInt32() + Avx512F.Shuffle(a, b, 0b11_01_11_01).AsInt32();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void PackPairs(sbyte* w, long n, int* destination)
    {
        if (!Transposes.IsAccelerated(16) || !Avx512BW.IsSupported)
        {
            PortablePairs.Pack(w, n, destination, 16);
            return;
        }
        Vector512<int> r0 = Widen(w), r1 = Widen(w + n), r2 = Widen(w + 2 * n), r3 = Widen(w + 3 * n);
        Vector512<int> r4 = Widen(w + 4 * n), r5 = Widen(w + 5 * n), r6 = Widen(w + 6 * n), r7 = Widen(w + 7 * n);
        Vector512<int> r8 = Widen(w + 8 * n), r9 = Widen(w + 9 * n), r10 = Widen(w + 10 * n), r11 = Widen(w + 11 * n);
        Vector512<int> r12 = Widen(w + 12 * n), r13 = Widen(w + 13 * n), r14 = Widen(w + 14 * n), r15 = Widen(w + 15 * n);
        Transposes.Square(ref r0, ref r1, ref r2, ref r3, ref r4, ref r5, ref r6, ref r7,
            ref r8, ref r9, ref r10, ref r11, ref r12, ref r13, ref r14, ref r15);
        r0.Store(destination); r1.Store(destination + 16); r2.Store(destination + 32); r3.Store(destination + 48);
        r4.Store(destination + 64); r5.Store(destination + 80); r6.Store(destination + 96); r7.Store(destination + 112);
        r8.Store(destination + 128); r9.Store(destination + 144); r10.Store(destination + 160); r11.Store(destination + 176);
        r12.Store(destination + 192); r13.Store(destination + 208); r14.Store(destination + 224); r15.Store(destination + 240);
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> ToFloat(Vector512<int> v) => Vector512.ConvertToSingle(v);
    public static Vector512<float> ZeroFloat => Vector512<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> LoadFloat(float* p) => Vector512.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> BroadcastFloat(float value) => Vector512.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void StoreFloat(float* p, Vector512<float> v) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Multiply(Vector512<float> a, Vector512<float> b) => a * b;
}

internal unsafe struct Q8Ops256 : IQ8Ops<Vector256<int>, Vector256<float>>
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void LoadTransposed(float* source, long stride, float* destination) => Ops256.LoadTransposed(source, stride, destination);

    public static int Lanes => 8;
    public static Vector256<int> Zero => Vector256<int>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Widen(sbyte* p) => Avx2.IsSupported
        ? Avx2.ConvertToVector256Int16(Vector128.Load(p)).AsInt32()
        : Vector256.Create(Vector128.WidenLower(Vector128.Load(p)), Vector128.WidenUpper(Vector128.Load(p))).AsInt32();

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<int> Load(short* p) => Vector256.Load((int*)p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(int* p, Vector256<int> v) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<int> BroadcastPair(short* p) => Vector256.Create(*(int*)p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> MultiplyAddPairs(Vector256<int> acc, Vector256<int> a, Vector256<int> b) =>
        AvxVnni.IsSupported ? AvxVnni.MultiplyWideningAndAdd(acc, a.AsInt16(), b.AsInt16())
        : Avx2.IsSupported ? acc + Avx2.MultiplyAddAdjacent(a.AsInt16(), b.AsInt16())
        : PortablePairs.MultiplyAdd(acc, a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static int Sum(Vector256<int> v) => Vector256.Sum(v);

    /// <summary>The eight vectors transposed in registers, then added: lane i gathers vector i's lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> SumEach(int* vectors)
    {
        if (!Transposes.IsAccelerated(8)) return PortablePairs.SumEach<Vector256<int>, Vector256<float>, Q8Ops256>(vectors);
        Vector256<int> r0 = V(0), r1 = V(1), r2 = V(2), r3 = V(3), r4 = V(4), r5 = V(5), r6 = V(6), r7 = V(7);
        Transposes.Square(ref r0, ref r1, ref r2, ref r3, ref r4, ref r5, ref r6, ref r7);
        return ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7));

        Vector256<int> V(int i) => Vector256.Load(vectors + 8 * i);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void PackPairs(sbyte* w, long n, int* destination)
    {
        if (!Transposes.IsAccelerated(8))
        {
            PortablePairs.Pack(w, n, destination, 8);
            return;
        }
        Vector256<int> r0 = Widen(w), r1 = Widen(w + n), r2 = Widen(w + 2 * n), r3 = Widen(w + 3 * n);
        Vector256<int> r4 = Widen(w + 4 * n), r5 = Widen(w + 5 * n), r6 = Widen(w + 6 * n), r7 = Widen(w + 7 * n);
        Transposes.Square(ref r0, ref r1, ref r2, ref r3, ref r4, ref r5, ref r6, ref r7);
        r0.Store(destination); r1.Store(destination + 8); r2.Store(destination + 16); r3.Store(destination + 24);
        r4.Store(destination + 32); r5.Store(destination + 40); r6.Store(destination + 48); r7.Store(destination + 56);
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> ToFloat(Vector256<int> v) => Vector256.ConvertToSingle(v);
    public static Vector256<float> ZeroFloat => Vector256<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> LoadFloat(float* p) => Vector256.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> BroadcastFloat(float value) => Vector256.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void StoreFloat(float* p, Vector256<float> v) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Multiply(Vector256<float> a, Vector256<float> b) => a * b;
}

internal unsafe struct Q8Ops128 : IQ8Ops<Vector128<int>, Vector128<float>>
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void LoadTransposed(float* source, long stride, float* destination) => Ops128.LoadTransposed(source, stride, destination);

    public static int Lanes => 4;
    public static Vector128<int> Zero => Vector128<int>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> Widen(sbyte* p) => Sse41.IsSupported
        ? Sse41.ConvertToVector128Int16(p).AsInt32()
        : Vector128.WidenLower(Vector64.Load(p).ToVector128Unsafe()).AsInt32();

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<int> Load(short* p) => Vector128.Load((int*)p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(int* p, Vector128<int> v) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<int> BroadcastPair(short* p) => Vector128.Create(*(int*)p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> MultiplyAddPairs(Vector128<int> acc, Vector128<int> a, Vector128<int> b) =>
        AvxVnni.IsSupported ? AvxVnni.MultiplyWideningAndAdd(acc, a.AsInt16(), b.AsInt16())
        : Sse2.IsSupported ? acc + Sse2.MultiplyAddAdjacent(a.AsInt16(), b.AsInt16())
        : PortablePairs.MultiplyAdd(acc, a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static int Sum(Vector128<int> v) => Vector128.Sum(v);

    /// <summary>The four vectors transposed in registers, then added: lane i gathers vector i's lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> SumEach(int* vectors)
    {
        if (!Transposes.IsAccelerated(4)) return PortablePairs.SumEach<Vector128<int>, Vector128<float>, Q8Ops128>(vectors);
        Vector128<int> r0 = Vector128.Load(vectors), r1 = Vector128.Load(vectors + 4), r2 = Vector128.Load(vectors + 8), r3 = Vector128.Load(vectors + 12);
        Transposes.Square(ref r0, ref r1, ref r2, ref r3);
        return (r0 + r1) + (r2 + r3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void PackPairs(sbyte* w, long n, int* destination)
    {
        if (!Transposes.IsAccelerated(4))
        {
            PortablePairs.Pack(w, n, destination, 4);
            return;
        }
        Vector128<int> r0 = Widen(w), r1 = Widen(w + n), r2 = Widen(w + 2 * n), r3 = Widen(w + 3 * n);
        Transposes.Square(ref r0, ref r1, ref r2, ref r3);
        r0.Store(destination); r1.Store(destination + 4); r2.Store(destination + 8); r3.Store(destination + 12);
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> ToFloat(Vector128<int> v) => Vector128.ConvertToSingle(v);
    public static Vector128<float> ZeroFloat => Vector128<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> LoadFloat(float* p) => Vector128.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> BroadcastFloat(float value) => Vector128.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void StoreFloat(float* p, Vector128<float> v) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Add(Vector128<float> a, Vector128<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Multiply(Vector128<float> a, Vector128<float> b) => a * b;
}

/// <summary>An int8 kernel written once over <see cref="IQ8Ops{TInt, TFloat}"/>; <see cref="Q8Simd.Dispatch"/> runs one width.</summary>
internal interface IQ8WidthKernel
{
    void Run<TInt, TFloat, TOps>() where TInt : struct where TFloat : struct where TOps : struct, IQ8Ops<TInt, TFloat>;
    /// <summary>The scalar code, for width 1.</summary>
    void RunScalar();
}

/// <summary>The widths of the int8 kernels: the widest the CPU accelerates whose vectors hold whole groups.</summary>
public static class Q8Simd
{
    /// <summary>int32 lanes per vector on this CPU: 16, 8, 4, or 1 (scalar).</summary>
    public static readonly int Width =
        Vector512.IsHardwareAccelerated && Avx512BW.IsSupported ? 16 :
        Vector256.IsHardwareAccelerated ? 8 :
        Vector128.IsHardwareAccelerated ? 4 : 1;

    /// <summary>
    /// The width for matrices of this group size: the widest up to <paramref name="widest"/> whose vector (2 × lanes
    /// int8) divides the group, so that no vector straddles two groups; 1 (scalar) for groups of fewer than 8 or odd sizes.
    /// </summary>
    public static int WidthFor(int groupSize, int widest = -1)
    {
        if (widest < 0) widest = Width;
        for (int lanes = widest; lanes >= 4; lanes /= 2)
            if (groupSize % (2 * lanes) == 0) return lanes;
        return 1;
    }

    public static string Name => Width switch
    {
        16 => Avx512BW.IsSupported ? "Vector512 (AVX-512BW pmaddwd)" : "Vector512",
        8 => AvxVnni.IsSupported ? "Vector256 (AVX-VNNI)" : Avx2.IsSupported ? "Vector256 (AVX2 pmaddwd)" : "Vector256",
        4 => "Vector128",
        _ => "scalar",
    };

    /// <summary>Runs <paramref name="kernel"/> at <paramref name="width"/> lanes: 16, 8 or 4, anything else scalar.</summary>
    internal static void Dispatch<TKernel>(int width, ref TKernel kernel) where TKernel : struct, IQ8WidthKernel
    {
        switch (width)
        {
            case 16: kernel.Run<Vector512<int>, Vector512<float>, Q8Ops512>(); break;
            case 8: kernel.Run<Vector256<int>, Vector256<float>, Q8Ops256>(); break;
            case 4: kernel.Run<Vector128<int>, Vector128<float>, Q8Ops128>(); break;
            default: kernel.RunScalar(); break;
        }
    }
}

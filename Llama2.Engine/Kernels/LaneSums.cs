using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Llama2.Engine.Kernels;

/// <summary>
/// The lane sums of a tile's accumulators, stored side by side: res[i] = Sum(a_i), bit for bit
/// <see cref="IVectorOps{TVec}.Sum"/> of each.
/// <para>
/// Why: summing one accumulator's 16 lanes takes four dependent add steps and as many shuffles, ~13 instructions per
/// output; a 4 × 6 tile's 24 outputs cost about a sixth of its loop at n = 768, a third at n = 288. With AVX-512,
/// sixteen accumulators are summed together instead: each halving step adds two accumulators' halves in one vector
/// add (lanes i and i + half of each, exactly the pairs <see cref="Ops512.Sum"/> adds), so 16 sums take 15 adds and
/// 30 shuffles, and come out as one vector. Other widths sum one accumulator at a time.
/// </para>
/// </summary>
internal static unsafe class LaneSums
{
    /// <summary>res[0..16) = the lane sums of a0 … a15.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store16<TVec, TOps>(float* res,
        TVec a0, TVec a1, TVec a2, TVec a3, TVec a4, TVec a5, TVec a6, TVec a7,
        TVec a8, TVec a9, TVec a10, TVec a11, TVec a12, TVec a13, TVec a14, TVec a15)
        where TVec : struct where TOps : struct, IVectorOps<TVec>
    {
        if (typeof(TVec) == typeof(Vector512<float>) && Avx512F.IsSupported)
        {
            // The four steps leave the sum of the input in slot 4i + j in lane 4j + i, so the inputs go in transposed.
            Tree(V(a0), V(a4), V(a8), V(a12), V(a1), V(a5), V(a9), V(a13),
                 V(a2), V(a6), V(a10), V(a14), V(a3), V(a7), V(a11), V(a15)).Store(res);
            return;
        }
        Store8<TVec, TOps>(res, a0, a1, a2, a3, a4, a5, a6, a7);
        Store8<TVec, TOps>(res + 8, a8, a9, a10, a11, a12, a13, a14, a15);
    }

    /// <summary>res[0..8) = the lane sums of a0 … a7.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store8<TVec, TOps>(float* res, TVec a0, TVec a1, TVec a2, TVec a3, TVec a4, TVec a5, TVec a6, TVec a7)
        where TVec : struct where TOps : struct, IVectorOps<TVec>
    {
        if (typeof(TVec) == typeof(Vector512<float>) && Avx512F.IsSupported)
        {
            // Lanes 0–7 of the 16-input tree come from slots 0, 1, 4, 5, 8, 9, 12, 13; the other slots' lanes are
            // discarded, so they repeat their neighbours.
            Tree(V(a0), V(a4), V(a0), V(a4), V(a1), V(a5), V(a1), V(a5),
                 V(a2), V(a6), V(a2), V(a6), V(a3), V(a7), V(a3), V(a7)).GetLower().Store(res);
            return;
        }
        res[0] = TOps.Sum(a0); res[1] = TOps.Sum(a1); res[2] = TOps.Sum(a2); res[3] = TOps.Sum(a3);
        res[4] = TOps.Sum(a4); res[5] = TOps.Sum(a5); res[6] = TOps.Sum(a6); res[7] = TOps.Sum(a7);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> V<TVec>(TVec a) where TVec : struct => Unsafe.BitCast<TVec, Vector512<float>>(a);

    /// <summary>Lane 4j + i of the result = the lane sum of slot 4i + j.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Tree(
        Vector512<float> s0, Vector512<float> s1, Vector512<float> s2, Vector512<float> s3,
        Vector512<float> s4, Vector512<float> s5, Vector512<float> s6, Vector512<float> s7,
        Vector512<float> s8, Vector512<float> s9, Vector512<float> s10, Vector512<float> s11,
        Vector512<float> s12, Vector512<float> s13, Vector512<float> s14, Vector512<float> s15) =>
        Halves4(
            Halves3(Halves2(Halves1(s0, s1), Halves1(s2, s3)), Halves2(Halves1(s4, s5), Halves1(s6, s7))),
            Halves3(Halves2(Halves1(s8, s9), Halves1(s10, s11)), Halves2(Halves1(s12, s13), Halves1(s14, s15))));

    // Each step adds lane i to lane i + half within every group of its width, for two inputs at once: the result
    // holds a's sums in its first half of each pair of groups and b's in the second.

    /// <summary>16 → 8: [a(0..8) + a(8..16), b(0..8) + b(8..16)].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Halves1(Vector512<float> a, Vector512<float> b) =>
        Avx512F.Shuffle4x128(a, b, 0b01_00_01_00) + Avx512F.Shuffle4x128(a, b, 0b11_10_11_10);

    /// <summary>8 → 4 in each 8-lane half: quads [a.q0 + a.q1, a.q2 + a.q3, b.q0 + b.q1, b.q2 + b.q3].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Halves2(Vector512<float> a, Vector512<float> b) =>
        Avx512F.Shuffle4x128(a, b, 0b10_00_10_00) + Avx512F.Shuffle4x128(a, b, 0b11_01_11_01);

    /// <summary>4 → 2 in each quad: [a0 + a2, a1 + a3, b0 + b2, b1 + b3].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Halves3(Vector512<float> a, Vector512<float> b) =>
        Avx512F.Shuffle(a, b, 0b01_00_01_00) + Avx512F.Shuffle(a, b, 0b11_10_11_10);

    /// <summary>2 → 1 in each quad: [a0 + a1, a2 + a3, b0 + b1, b2 + b3].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Halves4(Vector512<float> a, Vector512<float> b) =>
        Avx512F.Shuffle(a, b, 0b10_00_10_00) + Avx512F.Shuffle(a, b, 0b11_01_11_01);
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Llama2.Engine.Kernels;

/// <summary>
/// AVX-512 tiles for weight rows that start inside a cache line (<see cref="LinesAreShifted"/>): each row is read as
/// aligned 64-byte lines, and each 16-float chunk of it is put together from two of them with one permute, the same
/// chunk a straight load would give, so the results are bit for bit those of <see cref="Tiles"/>' tiles. A load that
/// straddles two lines costs two cache accesses, which makes the 4 × 4 tile load-bound; a permute costs none. Every
/// line read holds at least one float of its row, so nothing is read past the row's last line.
/// </summary>
[SkipLocalsInit]
internal static unsafe class ShiftedTiles
{
    /// <summary>
    /// Whether the rows of W all start the same distance past a 64-byte line, but not on one: llama2.c's legacy
    /// checkpoints have a 28-byte header, so every weight row sits 7 floats into a cache line and each of its 64-byte
    /// loads would straddle two lines.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool LinesAreShifted(float* w, int n) =>
        Avx512F.IsSupported && (n & 15) == 0 && ((nint)w & 63) != 0 && ((nint)w & 3) == 0;

    /// <summary>
    /// Which lanes of two consecutive aligned lines (lo, hi) hold the 16 floats that start <paramref name="w"/>'s
    /// offset into lo: indices ≥ 16 pick from hi.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<int> ShiftIndices(float* w) =>
        Vector512<int>.Indices + Vector512.Create((int)((nint)w & 63) >> 2);

    /// <summary>The 4 × 4 tile (rows n apart), bit for bit <see cref="Tiles"/>' for shifted rows.</summary>
    public static void Dot4x4(float* w, float* x, int n, float* res, NextBlockPrefetch prefetch)
    {
        var shift = ShiftIndices(w);
        float* l0 = (float*)((nint)w & ~(nint)63), l1 = l0 + n, l2 = l0 + 2 * n, l3 = l0 + 3 * n;
        float* x0 = x, x1 = x + n, x2 = x + 2 * n, x3 = x + 3 * n;
        Vector512<float> p0 = Vector512.LoadAligned(l0), p1 = Vector512.LoadAligned(l1), p2 = Vector512.LoadAligned(l2), p3 = Vector512.LoadAligned(l3);
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default;
        Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default;
        for (int k = 0; k < n; k += 16)
        {
            if (prefetch != NextBlockPrefetch.None) PrefetchPlan.NextBlock(w, n, k, prefetch);
            Vector512<float> q0 = Vector512.LoadAligned(l0 + k + 16), q1 = Vector512.LoadAligned(l1 + k + 16);
            Vector512<float> q2 = Vector512.LoadAligned(l2 + k + 16), q3 = Vector512.LoadAligned(l3 + k + 16);
            var v0 = Avx512F.PermuteVar16x32x2(p0, shift, q0);
            var v1 = Avx512F.PermuteVar16x32x2(p1, shift, q1);
            var v2 = Avx512F.PermuteVar16x32x2(p2, shift, q2);
            var v3 = Avx512F.PermuteVar16x32x2(p3, shift, q3);
            p0 = q0; p1 = q1; p2 = q2; p3 = q3;
            var xv = Vector512.Load(x0 + k);
            a00 = Vector512.FusedMultiplyAdd(v0, xv, a00); a10 = Vector512.FusedMultiplyAdd(v1, xv, a10);
            a20 = Vector512.FusedMultiplyAdd(v2, xv, a20); a30 = Vector512.FusedMultiplyAdd(v3, xv, a30);
            xv = Vector512.Load(x1 + k);
            a01 = Vector512.FusedMultiplyAdd(v0, xv, a01); a11 = Vector512.FusedMultiplyAdd(v1, xv, a11);
            a21 = Vector512.FusedMultiplyAdd(v2, xv, a21); a31 = Vector512.FusedMultiplyAdd(v3, xv, a31);
            xv = Vector512.Load(x2 + k);
            a02 = Vector512.FusedMultiplyAdd(v0, xv, a02); a12 = Vector512.FusedMultiplyAdd(v1, xv, a12);
            a22 = Vector512.FusedMultiplyAdd(v2, xv, a22); a32 = Vector512.FusedMultiplyAdd(v3, xv, a32);
            xv = Vector512.Load(x3 + k);
            a03 = Vector512.FusedMultiplyAdd(v0, xv, a03); a13 = Vector512.FusedMultiplyAdd(v1, xv, a13);
            a23 = Vector512.FusedMultiplyAdd(v2, xv, a23); a33 = Vector512.FusedMultiplyAdd(v3, xv, a33);
        }
        // n is a multiple of 16: no scalar tail, as in the straight tile for such n.
        LaneSums.Store16<Vector512<float>, Ops512>(res, a00, a10, a20, a30, a01, a11, a21, a31, a02, a12, a22, a32, a03, a13, a23, a33);
    }

    /// <summary>The 4 × 1 tile (rows n apart), bit for bit <see cref="Tiles"/>' for shifted rows.</summary>
    public static void Dot4x1(float* w, float* x, int n, float* res, NextBlockPrefetch prefetch)
    {
        var shift = ShiftIndices(w);
        float* l0 = (float*)((nint)w & ~(nint)63), l1 = l0 + n, l2 = l0 + 2 * n, l3 = l0 + 3 * n;
        Vector512<float> p0 = Vector512.LoadAligned(l0), p1 = Vector512.LoadAligned(l1), p2 = Vector512.LoadAligned(l2), p3 = Vector512.LoadAligned(l3);
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (int k = 0; k < n; k += 16)
        {
            if (prefetch != NextBlockPrefetch.None) PrefetchPlan.NextBlock(w, n, k, prefetch);
            Vector512<float> q0 = Vector512.LoadAligned(l0 + k + 16), q1 = Vector512.LoadAligned(l1 + k + 16);
            Vector512<float> q2 = Vector512.LoadAligned(l2 + k + 16), q3 = Vector512.LoadAligned(l3 + k + 16);
            var xv = Vector512.Load(x + k);
            a0 = Vector512.FusedMultiplyAdd(Avx512F.PermuteVar16x32x2(p0, shift, q0), xv, a0);
            a1 = Vector512.FusedMultiplyAdd(Avx512F.PermuteVar16x32x2(p1, shift, q1), xv, a1);
            a2 = Vector512.FusedMultiplyAdd(Avx512F.PermuteVar16x32x2(p2, shift, q2), xv, a2);
            a3 = Vector512.FusedMultiplyAdd(Avx512F.PermuteVar16x32x2(p3, shift, q3), xv, a3);
            p0 = q0; p1 = q1; p2 = q2; p3 = q3;
        }
        res[0] = Ops512.Sum(a0);
        res[1] = Ops512.Sum(a1);
        res[2] = Ops512.Sum(a2);
        res[3] = Ops512.Sum(a3);
    }
}

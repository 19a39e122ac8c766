using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Llama2.Engine.Kernels;

/// <summary>
/// Square transposes of 32-bit lanes in registers: W vectors of W lanes (rows) become W vectors whose lane r is lane j of
/// row r (columns), for W = 16, 8 and 4, by unpacking pairs of 32-bit and then 64-bit lanes and moving 128-bit blocks
/// (4 W log W shuffles, no memory). The int8 kernels use them to pack weight rows (<see cref="Q8Tiles"/>) and runq-order
/// attention to put positions in lanes (<see cref="Attention"/>). Bits are moved, never changed, so they serve floats as
/// well. Only where the CPU has the shuffles (<see cref="IsAccelerated"/>).
/// </summary>
internal static unsafe class Transposes
{
    /// <summary>Whether a W × W transpose runs in registers here.</summary>
    public static bool IsAccelerated(int width) => width switch
    {
        16 => Avx512F.IsSupported,
        8 => Avx2.IsSupported,
        4 => Sse2.IsSupported,
        _ => false,
    };

    /// <summary>A width × width transpose through memory, element by element, where the shuffles are missing.</summary>
    public static void Portable(float* source, long stride, float* destination, int width)
    {
        for (int r = 0; r < width; r++)
            for (int j = 0; j < width; j++)
                destination[j * width + r] = source[r * stride + j];
    }

    /// <summary>16 × 16: rows in, columns out, in place.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Square(ref Vector512<int> r0, ref Vector512<int> r1, ref Vector512<int> r2, ref Vector512<int> r3,
        ref Vector512<int> r4, ref Vector512<int> r5, ref Vector512<int> r6, ref Vector512<int> r7,
        ref Vector512<int> r8, ref Vector512<int> r9, ref Vector512<int> r10, ref Vector512<int> r11,
        ref Vector512<int> r12, ref Vector512<int> r13, ref Vector512<int> r14, ref Vector512<int> r15)
    {
        // Within each 128-bit block ℓ, u(4i + e) holds element 4ℓ + e of rows 4i … 4i + 3.
        Quads(r0, r1, r2, r3, out var u0, out var u1, out var u2, out var u3);
        Quads(r4, r5, r6, r7, out var u4, out var u5, out var u6, out var u7);
        Quads(r8, r9, r10, r11, out var u8, out var u9, out var u10, out var u11);
        Quads(r12, r13, r14, r15, out var u12, out var u13, out var u14, out var u15);
        // v(e): blocks (element e, e + 8) of rows 0–3 and 4–7; v(4 + e): elements e + 4, e + 12; v(8 …) rows 8–15.
        const byte Even = 0b10_00_10_00, Odd = 0b11_01_11_01;
        var v0 = Avx512F.Shuffle4x128(u0, u4, Even); var v4 = Avx512F.Shuffle4x128(u0, u4, Odd);
        var v1 = Avx512F.Shuffle4x128(u1, u5, Even); var v5 = Avx512F.Shuffle4x128(u1, u5, Odd);
        var v2 = Avx512F.Shuffle4x128(u2, u6, Even); var v6 = Avx512F.Shuffle4x128(u2, u6, Odd);
        var v3 = Avx512F.Shuffle4x128(u3, u7, Even); var v7 = Avx512F.Shuffle4x128(u3, u7, Odd);
        var v8 = Avx512F.Shuffle4x128(u8, u12, Even); var v12 = Avx512F.Shuffle4x128(u8, u12, Odd);
        var v9 = Avx512F.Shuffle4x128(u9, u13, Even); var v13 = Avx512F.Shuffle4x128(u9, u13, Odd);
        var v10 = Avx512F.Shuffle4x128(u10, u14, Even); var v14 = Avx512F.Shuffle4x128(u10, u14, Odd);
        var v11 = Avx512F.Shuffle4x128(u11, u15, Even); var v15 = Avx512F.Shuffle4x128(u11, u15, Odd);
        r0 = Avx512F.Shuffle4x128(v0, v8, Even); r8 = Avx512F.Shuffle4x128(v0, v8, Odd);
        r1 = Avx512F.Shuffle4x128(v1, v9, Even); r9 = Avx512F.Shuffle4x128(v1, v9, Odd);
        r2 = Avx512F.Shuffle4x128(v2, v10, Even); r10 = Avx512F.Shuffle4x128(v2, v10, Odd);
        r3 = Avx512F.Shuffle4x128(v3, v11, Even); r11 = Avx512F.Shuffle4x128(v3, v11, Odd);
        r4 = Avx512F.Shuffle4x128(v4, v12, Even); r12 = Avx512F.Shuffle4x128(v4, v12, Odd);
        r5 = Avx512F.Shuffle4x128(v5, v13, Even); r13 = Avx512F.Shuffle4x128(v5, v13, Odd);
        r6 = Avx512F.Shuffle4x128(v6, v14, Even); r14 = Avx512F.Shuffle4x128(v6, v14, Odd);
        r7 = Avx512F.Shuffle4x128(v7, v15, Even); r15 = Avx512F.Shuffle4x128(v7, v15, Odd);
    }

    /// <summary>Four rows → element 4ℓ + e of each, e = 0 … 3, in every 128-bit block ℓ.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Quads(Vector512<int> a, Vector512<int> b, Vector512<int> c, Vector512<int> d,
        out Vector512<int> e0, out Vector512<int> e1, out Vector512<int> e2, out Vector512<int> e3)
    {
        var ab0 = Avx512F.UnpackLow(a, b).AsInt64(); var ab1 = Avx512F.UnpackHigh(a, b).AsInt64();
        var cd0 = Avx512F.UnpackLow(c, d).AsInt64(); var cd1 = Avx512F.UnpackHigh(c, d).AsInt64();
        e0 = Avx512F.UnpackLow(ab0, cd0).AsInt32();
        e1 = Avx512F.UnpackHigh(ab0, cd0).AsInt32();
        e2 = Avx512F.UnpackLow(ab1, cd1).AsInt32();
        e3 = Avx512F.UnpackHigh(ab1, cd1).AsInt32();
    }

    /// <summary>8 × 8: rows in, columns out, in place.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Square(ref Vector256<int> r0, ref Vector256<int> r1, ref Vector256<int> r2, ref Vector256<int> r3,
        ref Vector256<int> r4, ref Vector256<int> r5, ref Vector256<int> r6, ref Vector256<int> r7)
    {
        Quads(r0, r1, r2, r3, out var u0, out var u1, out var u2, out var u3);
        Quads(r4, r5, r6, r7, out var u4, out var u5, out var u6, out var u7);
        const byte Low = 0x20, High = 0x31;
        r0 = Avx2.Permute2x128(u0, u4, Low); r4 = Avx2.Permute2x128(u0, u4, High);
        r1 = Avx2.Permute2x128(u1, u5, Low); r5 = Avx2.Permute2x128(u1, u5, High);
        r2 = Avx2.Permute2x128(u2, u6, Low); r6 = Avx2.Permute2x128(u2, u6, High);
        r3 = Avx2.Permute2x128(u3, u7, Low); r7 = Avx2.Permute2x128(u3, u7, High);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Quads(Vector256<int> a, Vector256<int> b, Vector256<int> c, Vector256<int> d,
        out Vector256<int> e0, out Vector256<int> e1, out Vector256<int> e2, out Vector256<int> e3)
    {
        var ab0 = Avx2.UnpackLow(a, b).AsInt64(); var ab1 = Avx2.UnpackHigh(a, b).AsInt64();
        var cd0 = Avx2.UnpackLow(c, d).AsInt64(); var cd1 = Avx2.UnpackHigh(c, d).AsInt64();
        e0 = Avx2.UnpackLow(ab0, cd0).AsInt32();
        e1 = Avx2.UnpackHigh(ab0, cd0).AsInt32();
        e2 = Avx2.UnpackLow(ab1, cd1).AsInt32();
        e3 = Avx2.UnpackHigh(ab1, cd1).AsInt32();
    }

    /// <summary>4 × 4: rows in, columns out, in place.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Square(ref Vector128<int> r0, ref Vector128<int> r1, ref Vector128<int> r2, ref Vector128<int> r3)
    {
        var ab0 = Sse2.UnpackLow(r0, r1).AsInt64(); var ab1 = Sse2.UnpackHigh(r0, r1).AsInt64();
        var cd0 = Sse2.UnpackLow(r2, r3).AsInt64(); var cd1 = Sse2.UnpackHigh(r2, r3).AsInt64();
        r0 = Sse2.UnpackLow(ab0, cd0).AsInt32();
        r1 = Sse2.UnpackHigh(ab0, cd0).AsInt32();
        r2 = Sse2.UnpackLow(ab1, cd1).AsInt32();
        r3 = Sse2.UnpackHigh(ab1, cd1).AsInt32();
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Llama2.Engine.Kernels;

/// <summary>
/// e^x for a span of floats, bit for bit what glibc's <c>expf</c> returns on a CPU with FMA (its <c>__expf_fma</c>,
/// the one run.c calls on x86-64 and <see cref="MathF.Exp"/> calls on Linux), four at a time.
/// <para>
/// Why exact: the sampler's softmax decides which token is drawn, and run.c's draw must come out the same. Why not
/// MathF.Exp: it is a call per element, a whole vocabulary of them per sampled token; this computes four at a time.
/// </para>
/// <para>
/// The algorithm is glibc's (ARM's optimized-routines): in double precision, x·32/ln2 = k + r with k an integer and
/// |r| ≤ 1/2, then e^x = 2^(k/32) · 2^(r/32), the first factor from a 32-entry table with k/32's integer part added to
/// its exponent, the second a cubic in r. glibc's build contracts the multiply-adds into FMAs; so does this code, in
/// the same places. Inputs with |x| ≥ 88 (overflow, underflow, infinities, NaN) take MathF.Exp.
/// </para>
/// </summary>
public static class Exp
{
    /// <summary>Whether the vector path runs here (AVX2 and FMA); otherwise every element goes through MathF.Exp.</summary>
    public static bool IsVectorized => Avx2.IsSupported && Fma.IsSupported;

    /// <summary>y[i] = e^(x[i] − shift) for every i; x and y may be the same span.</summary>
    public static void Compute(ReadOnlySpan<float> x, Span<float> y, float shift = 0f)
    {
        if (y.Length < x.Length) throw new ArgumentException("output shorter than input", nameof(y));
        int i = 0;
        if (IsVectorized)
        {
            var s = Vector128.Create(shift);
            ref float xr = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(x);
            ref float yr = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(y);
            for (; i <= x.Length - 4; i += 4)
                Four(Vector128.LoadUnsafe(ref xr, (nuint)i) - s).StoreUnsafe(ref yr, (nuint)i);
        }
        for (; i < x.Length; i++) y[i] = MathF.Exp(x[i] - shift);
    }

    /// <summary>e^x of four floats (only where <see cref="IsVectorized"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<float> Four(Vector128<float> x)
    {
        var e = MainRange(x);
        // |x| ≥ 88 in some lane: glibc's special cases (over- and underflow, infinities, NaN).
        if (!Vector128.LessThanAll(Vector128.Abs(x), Vector128.Create(88f))) e = SpecialLanes(x, e);
        return e;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    static Vector128<float> SpecialLanes(Vector128<float> x, Vector128<float> e)
    {
        for (int j = 0; j < 4; j++)
            if (!(MathF.Abs(x[j]) < 88f)) e = e.WithElement(j, MathF.Exp(x[j]));
        return e;
    }

    // glibc's __exp2f_data: 2^(i/32) as double bits with i/32's share of the exponent taken out (tab), 32/ln2
    // (invln2_scaled), 1.5·2^52 (shift: adding it rounds to an integer in the low mantissa bits), the cubic's
    // coefficients (poly_scaled).
    static ReadOnlySpan<ulong> Table =>
    [
        0x3ff0000000000000, 0x3fefd9b0d3158574, 0x3fefb5586cf9890f, 0x3fef9301d0125b51,
        0x3fef72b83c7d517b, 0x3fef54873168b9aa, 0x3fef387a6e756238, 0x3fef1e9df51fdee1,
        0x3fef06fe0a31b715, 0x3feef1a7373aa9cb, 0x3feedea64c123422, 0x3feece086061892d,
        0x3feebfdad5362a27, 0x3feeb42b569d4f82, 0x3feeab07dd485429, 0x3feea47eb03a5585,
        0x3feea09e667f3bcd, 0x3fee9f75e8ec5f74, 0x3feea11473eb0187, 0x3feea589994cce13,
        0x3feeace5422aa0db, 0x3feeb737b0cdc5e5, 0x3feec49182a3f090, 0x3feed503b23e255d,
        0x3feee89f995ad3ad, 0x3feeff76f2fb5e47, 0x3fef199bdd85529c, 0x3fef3720dcef9069,
        0x3fef5818dcfba487, 0x3fef7c97337b9b5f, 0x3fefa4afa2a490da, 0x3fefd0765b6e4540,
    ];
    static readonly double InvLn2N = BitConverter.UInt64BitsToDouble(0x40471547652b82fe);
    static readonly double Shift = BitConverter.UInt64BitsToDouble(0x4338000000000000);
    static readonly double C0 = BitConverter.UInt64BitsToDouble(0x3ebc6af84b912394);
    static readonly double C1 = BitConverter.UInt64BitsToDouble(0x3f2ebfce50fac4f3);
    static readonly double C2 = BitConverter.UInt64BitsToDouble(0x3f962e42ff0c52d6);

    /// <summary>glibc's main path, for |x| &lt; 88.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe Vector128<float> MainRange(Vector128<float> x)
    {
        var xd = Avx.ConvertToVector256Double(x);
        var invLn2N = Vector256.Create(InvLn2N);
        var shift = Vector256.Create(Shift);
        // z = x·32/ln2; kd = round(z) (via the shift, as glibc without a round-to-int instruction); r = z − kd, with
        // z recomputed inside the FMA as glibc's compiled code does.
        var kdShifted = Fma.MultiplyAdd(invLn2N, xd, shift);
        var ki = kdShifted.AsUInt64();
        var kd = kdShifted - shift;
        var r = Fma.MultiplySubtract(invLn2N, xd, kd);
        // s = 2^(k/32): the table entry for k mod 32, k/32 added to its exponent.
        Vector256<ulong> t;
        fixed (ulong* table = Table)
            t = Avx2.GatherVector256(table, (ki & Vector256.Create(31UL)).AsInt64(), 8);
        var s = (t + (ki << 47)).AsDouble();
        // 2^(r/32) ≈ C0·r³ + C1·r² + C2·r + 1, grouped as glibc: (C0·r + C1)·r² + (C2·r + 1).
        var z = Fma.MultiplyAdd(Vector256.Create(C0), r, Vector256.Create(C1));
        var r2 = r * r;
        var y = Fma.MultiplyAdd(Vector256.Create(C2), r, Vector256.Create(1.0));
        y = Fma.MultiplyAdd(z, r2, y);
        return Avx.ConvertToVector128Single(y * s);
    }
}

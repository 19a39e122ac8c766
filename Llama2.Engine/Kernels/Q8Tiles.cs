using System.Runtime.CompilerServices;

namespace Llama2.Engine.Kernels;

/// <summary>How many tokens a packed tile runs at once, as a type, so that the JIT compiles one copy of the tile per count
/// and drops the unused accumulators.</summary>
internal interface ITileTokens { static abstract int Count { get; } }
internal struct Tokens6 : ITileTokens { public static int Count => 6; }
internal struct Tokens4 : ITileTokens { public static int Count => 4; }
internal struct Tokens2 : ITileTokens { public static int Count => 2; }
internal struct Tokens1 : ITileTokens { public static int Count => 1; }

/// <summary>
/// The int8 (Q8_0) dot-product kernels of <see cref="Q8GemmJob"/>. Every output is runq.c's sum, bit for bit: per group,
/// the exact int32 dot product of the int8 weights and the quantized activations, then
/// <c>val += ((float) ival * weightScale) * activationScale</c>, group after group in order. The integer part may be
/// summed in any order (integers add exactly); the float part never changes order, so every kernel here, whatever its
/// width or tile, gives the same bits, and so does a batch of tokens against each token alone.
/// <list type="bullet">
/// <item><see cref="Row{TInt, TFloat, TOps}"/>: one weight row against one token (decoding), the row read front to back.</item>
/// <item><see cref="Pack{TInt, TFloat, TOps}"/> and <see cref="Tile{TInt, TFloat, TOps, TTokens}"/>: a batch. A block of
/// lanes weight rows is first rearranged so that a vector holds one pair of weights of each row (lane r = row r), then
/// each pair of activations of a token, broadcast, multiplies all the rows at once: the integer sums come out one row per
/// lane, with no sum across lanes, and the group's float step runs on whole vectors.</item>
/// <item><see cref="ScalarRow"/>: runq.c's loop as it is, for width 1 and group sizes the vectors do not fit.</item>
/// </list>
/// </summary>
[SkipLocalsInit]
internal static unsafe class Q8Tiles
{
    /// <summary>
    /// One row: Σ over groups g of ((float) Σ_k w[k] · x[k]) · ws[g]) · xs[g], with x the token's quantized values
    /// (n int16) and xs its scales. The group is a whole number of vectors (<see cref="Q8Simd.WidthFor"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Row<TInt, TFloat, TOps>(sbyte* w, float* ws, short* x, float* xs, int n, int groupSize)
        where TInt : struct where TFloat : struct where TOps : struct, IQ8Ops<TInt, TFloat>
    {
        float val = 0f;
        int step = 2 * TOps.Lanes;
        for (int g = 0, k = 0; k < n; g++)
        {
            TInt acc = TOps.Zero;
            for (int end = k + groupSize; k < end; k += step) acc = TOps.MultiplyAddPairs(acc, TOps.Widen(w + k), TOps.Load(x + k));
            val += ((float)TOps.Sum(acc) * ws[g]) * xs[g];
        }
        return val;
    }

    /// <summary>runq.c's matmul for one row and one token, as written there.</summary>
    public static float ScalarRow(sbyte* w, float* ws, short* x, float* xs, int n, int groupSize)
    {
        float val = 0f;
        for (int g = 0, k = 0; k < n; g++)
        {
            int ival = 0;
            for (int end = k + groupSize; k < end; k++) ival += w[k] * x[k];
            val += ((float)ival * ws[g]) * xs[g];
        }
        return val;
    }

    /// <summary>
    /// Rearranges columns [k0, k0 + 2 · pairs) of <paramref name="rows"/> weight rows (n apart) into
    /// <paramref name="packed"/>: pair j of row r, sign-extended to two int16, in 32-bit lane j · lanes + r, rows past
    /// <paramref name="rows"/> zero; and the rows' scales of the groups in those columns into
    /// <paramref name="packedScales"/>, group g of row r at g · lanes + r.
    /// </summary>
    public static void Pack<TInt, TFloat, TOps>(sbyte* w, float* ws, int rows, int n, int groupSize, int k0, int pairs, int* packed, float* packedScales)
        where TInt : struct where TFloat : struct where TOps : struct, IQ8Ops<TInt, TFloat>
    {
        int lanes = TOps.Lanes, groupsPerRow = n / groupSize, g0 = k0 / groupSize, groups = 2 * pairs / groupSize;
        for (int r = 0; r < lanes; r++)
        {
            float* scales = ws + (long)r * groupsPerRow + g0;
            for (int g = 0; g < groups; g++) packedScales[g * lanes + r] = r < rows ? scales[g] : 0f;
        }
        if (rows == lanes && pairs % lanes == 0)
        {
            // A square of lanes rows × lanes pairs at a time, transposed in registers.
            for (int j = 0; j < pairs; j += lanes) TOps.PackPairs(w + k0 + 2 * j, n, packed + j * lanes);
            return;
        }
        for (int r = 0; r < lanes; r++)
        {
            sbyte* row = w + (long)r * n + k0;
            for (int j = 0; j < pairs; j++) packed[j * lanes + r] = r < rows ? (int)(ushort)(short)row[2 * j] | (row[2 * j + 1] << 16) : 0;
        }
    }

    /// <summary>
    /// A packed block of lanes rows (<see cref="Pack{TInt, TFloat, TOps}"/>, <paramref name="groups"/> whole groups)
    /// against TTokens.Count tokens (n int16 apart, scales <paramref name="scalesPerToken"/> apart): the running sums
    /// res[t · resStride + r] go on over these groups.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Tile<TInt, TFloat, TOps, TTokens>(int* packed, float* packedScales, int groups, int groupSize,
        short* x, long n, float* xs, int scalesPerToken, float* res, int resStride)
        where TInt : struct where TFloat : struct where TOps : struct, IQ8Ops<TInt, TFloat> where TTokens : struct, ITileTokens
    {
        int tokens = TTokens.Count, lanes = TOps.Lanes, pairsPerGroup = groupSize / 2;
        short* x0 = x, x1 = x + n, x2 = x + 2 * n, x3 = x + 3 * n, x4 = x + 4 * n, x5 = x + 5 * n;
        TFloat v0 = TOps.LoadFloat(res);
        TFloat v1 = tokens > 1 ? TOps.LoadFloat(res + resStride) : default;
        TFloat v2 = tokens > 2 ? TOps.LoadFloat(res + 2 * resStride) : default;
        TFloat v3 = tokens > 3 ? TOps.LoadFloat(res + 3 * resStride) : default;
        TFloat v4 = tokens > 4 ? TOps.LoadFloat(res + 4 * resStride) : default;
        TFloat v5 = tokens > 5 ? TOps.LoadFloat(res + 5 * resStride) : default;
        int* p = packed;
        for (int g = 0; g < groups; g++)
        {
            TInt a0 = TOps.Zero, a1 = TOps.Zero, a2 = TOps.Zero, a3 = TOps.Zero, a4 = TOps.Zero, a5 = TOps.Zero;
            for (int j = 0, k = 2 * g * pairsPerGroup; j < pairsPerGroup; j++, k += 2, p += lanes)
            {
                TInt wv = TOps.Load((short*)p);
                a0 = TOps.MultiplyAddPairs(a0, wv, TOps.BroadcastPair(x0 + k));
                if (tokens > 1) a1 = TOps.MultiplyAddPairs(a1, wv, TOps.BroadcastPair(x1 + k));
                if (tokens > 2) a2 = TOps.MultiplyAddPairs(a2, wv, TOps.BroadcastPair(x2 + k));
                if (tokens > 3) a3 = TOps.MultiplyAddPairs(a3, wv, TOps.BroadcastPair(x3 + k));
                if (tokens > 4) a4 = TOps.MultiplyAddPairs(a4, wv, TOps.BroadcastPair(x4 + k));
                if (tokens > 5) a5 = TOps.MultiplyAddPairs(a5, wv, TOps.BroadcastPair(x5 + k));
            }
            TFloat s = TOps.LoadFloat(packedScales + g * lanes);
            v0 = TOps.Add(v0, TOps.Multiply(TOps.Multiply(TOps.ToFloat(a0), s), TOps.BroadcastFloat(xs[g])));
            if (tokens > 1) v1 = TOps.Add(v1, TOps.Multiply(TOps.Multiply(TOps.ToFloat(a1), s), TOps.BroadcastFloat(xs[scalesPerToken + g])));
            if (tokens > 2) v2 = TOps.Add(v2, TOps.Multiply(TOps.Multiply(TOps.ToFloat(a2), s), TOps.BroadcastFloat(xs[2 * scalesPerToken + g])));
            if (tokens > 3) v3 = TOps.Add(v3, TOps.Multiply(TOps.Multiply(TOps.ToFloat(a3), s), TOps.BroadcastFloat(xs[3 * scalesPerToken + g])));
            if (tokens > 4) v4 = TOps.Add(v4, TOps.Multiply(TOps.Multiply(TOps.ToFloat(a4), s), TOps.BroadcastFloat(xs[4 * scalesPerToken + g])));
            if (tokens > 5) v5 = TOps.Add(v5, TOps.Multiply(TOps.Multiply(TOps.ToFloat(a5), s), TOps.BroadcastFloat(xs[5 * scalesPerToken + g])));
        }
        TOps.StoreFloat(res, v0);
        if (tokens > 1) TOps.StoreFloat(res + resStride, v1);
        if (tokens > 2) TOps.StoreFloat(res + 2 * resStride, v2);
        if (tokens > 3) TOps.StoreFloat(res + 3 * resStride, v3);
        if (tokens > 4) TOps.StoreFloat(res + 4 * resStride, v4);
        if (tokens > 5) TOps.StoreFloat(res + 5 * resStride, v5);
    }
}

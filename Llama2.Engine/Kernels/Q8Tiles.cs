using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Llama2.Engine.Kernels;

/// <summary>How many tokens (or packed blocks of rows) a tile runs at once, as a type, so that the JIT compiles one copy of
/// the tile per count and drops the unused accumulators.</summary>
internal interface ITileCount { static abstract int Count { get; } }
internal struct Count8 : ITileCount { public static int Count => 8; }
internal struct Count7 : ITileCount { public static int Count => 7; }
internal struct Count6 : ITileCount { public static int Count => 6; }
internal struct Count5 : ITileCount { public static int Count => 5; }
internal struct Count4 : ITileCount { public static int Count => 4; }
internal struct Count3 : ITileCount { public static int Count => 3; }
internal struct Count2 : ITileCount { public static int Count => 2; }
internal struct Count1 : ITileCount { public static int Count => 1; }

/// <summary>
/// The int8 (Q8_0) dot-product kernels of <see cref="Q8GemmJob"/>. Every output is runq.c's sum, bit for bit: per group,
/// the exact int32 dot product of the int8 weights and the quantized activations, then
/// <c>val += ((float) ival * weightScale) * activationScale</c>, group after group in order. The integer part may be
/// summed in any order (integers add exactly); the float part never changes order, so every kernel here, whatever its
/// width or tile, gives the same bits, and so does a batch of tokens against each token alone.
/// <list type="bullet">
/// <item><see cref="RowTerms{TInt, TFloat, TOps}"/> and <see cref="SumRows{TInt, TFloat, TOps}"/>: weight rows against one
/// token (decoding), each row read front to back; the groups' terms of a row are made a vector at a time, and a vector
/// of rows adds them up, group after group.</item>
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
    /// The float terms of one row against one token (x: n int16, xs: its scales): terms[g] = ((float) Σ_k w[k] · x[k]) ·
    /// ws[g]) · xs[g] for each group g, runq.c's term. The group is a whole number of vectors
    /// (<see cref="Q8Simd.WidthFor"/>). Each group's vector of partial sums goes to <paramref name="scratch"/> (Lanes ×
    /// Lanes ints), and Lanes groups' sums are finished together (<see cref="IQ8Ops{TInt, TFloat}.SumEach"/>) and their
    /// terms formed in one vector. <paramref name="terms"/> has room for the groups rounded up to whole vectors.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void RowTerms<TInt, TFloat, TOps>(sbyte* w, float* ws, short* x, float* xs, int n, int groupSize, int* scratch, float* terms)
        where TInt : struct where TFloat : struct where TOps : struct, IQ8Ops<TInt, TFloat>
    {
        int lanes = TOps.Lanes, step = 2 * lanes, groups = n / groupSize;
        int g0 = 0;
        for (; g0 < groups; g0 += lanes)
        {
            int count = Math.Min(lanes, groups - g0);
            for (int i = 0; i < lanes; i++)
            {
                TInt acc = TOps.Zero;
                if (i < count)
                    for (int k = (g0 + i) * groupSize, end = k + groupSize; k < end; k += step)
                        acc = TOps.MultiplyAddPairs(acc, TOps.Widen(w + k), TOps.Load(x + k));
                TOps.Store(scratch + i * lanes, acc);
            }
            TInt sums = TOps.SumEach(scratch);
            if (count == lanes)
                TOps.StoreFloat(terms + g0, TOps.Multiply(TOps.Multiply(TOps.ToFloat(sums), TOps.LoadFloat(ws + g0)), TOps.LoadFloat(xs + g0)));
            else
            {
                // The row's last groups: scales past them are not to be read.
                TOps.StoreFloat(terms + g0, TOps.ToFloat(sums));
                for (int i = 0; i < count; i++) terms[g0 + i] = (terms[g0 + i] * ws[g0 + i]) * xs[g0 + i];
            }
        }
    }

    /// <summary>
    /// <see cref="RowTerms{TInt, TFloat, TOps}"/> for <paramref name="rows"/> consecutive rows at once with AVX-512, against
    /// TTokens tokens (n int16 apart): the rows' groups are one run in memory (row after row, values and scales alike),
    /// taken sixteen at a time whatever row they belong to, so that every halving tree is full even when a row has fewer
    /// than sixteen groups or not a multiple of sixteen. Group f is group f mod G of its row: its activations are at
    /// x + xOffsets[f mod G + i] for the i-th group of a run starting at f, and token t's activation scale at
    /// xsRepeated[t · xsStride + f mod G + i] (the tables G + 16 long, repeating the row's G entries). Token t's terms
    /// go to terms[t · termsStride + f] for f &lt; rows · G, so row r's terms are at + r · G. With more than one token
    /// each group's int8 values are sign-extended once and multiply every token's activations while in registers; the
    /// tokens' vectors of partial sums wait in <paramref name="scratch"/> (TTokens × 256 ints) for their halving trees.
    /// </summary>
    public static void BlockTerms512<TTokens>(sbyte* w, float* ws, int rows, int groups, int groupSize, short* x, long n,
        int* xOffsets, float* xsRepeated, int xsStride, float* terms, int termsStride, int* scratch)
        where TTokens : struct, ITileCount
    {
        int total = rows * groups;
        for (int f0 = 0, g = 0; f0 < total; f0 += 16)
        {
            int count = Math.Min(16, total - f0);
            sbyte* wf = w + (long)f0 * groupSize;
            int* xo = xOffsets + g;
            if (TTokens.Count == 1)
            {
                var sums = Q8Ops512.SumEach(
                    Group(wf, x, xo, groupSize, 0, count), Group(wf, x, xo, groupSize, 1, count), Group(wf, x, xo, groupSize, 2, count),
                    Group(wf, x, xo, groupSize, 3, count), Group(wf, x, xo, groupSize, 4, count), Group(wf, x, xo, groupSize, 5, count),
                    Group(wf, x, xo, groupSize, 6, count), Group(wf, x, xo, groupSize, 7, count), Group(wf, x, xo, groupSize, 8, count),
                    Group(wf, x, xo, groupSize, 9, count), Group(wf, x, xo, groupSize, 10, count), Group(wf, x, xo, groupSize, 11, count),
                    Group(wf, x, xo, groupSize, 12, count), Group(wf, x, xo, groupSize, 13, count), Group(wf, x, xo, groupSize, 14, count),
                    Group(wf, x, xo, groupSize, 15, count));
                Terms(Vector512.ConvertToSingle(sums), ws + f0, xsRepeated + g, terms + f0, count);
            }
            else
            {
                // Lanes past count keep whatever scratch held: Terms ignores them.
                for (int i = 0; i < count; i++) GroupTokens<TTokens>(wf + i * groupSize, x + xo[i], n, groupSize, scratch + 16 * i);
                for (int t = 0; t < TTokens.Count; t++)
                    Terms(Vector512.ConvertToSingle(Q8Ops512.SumEach(scratch + 256 * t)), ws + f0, xsRepeated + t * xsStride + g,
                        terms + t * termsStride + f0, count);
            }
            for (g += 16; g >= groups; g -= groups) { }
        }
    }

    /// <summary>
    /// One group's int8 values (sign-extended once per vector) against TTokens tokens' activations (n apart): each token's
    /// vector of partial integer sums to scratch + 256 · t.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void GroupTokens<TTokens>(sbyte* w, short* x, long n, int groupSize, int* scratch) where TTokens : struct, ITileCount
    {
        int tokens = TTokens.Count;
        Vector512<int> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        short* x1 = x + n, x2 = x + 2 * n, x3 = x + 3 * n, x4 = x + 4 * n, x5 = x + 5 * n, x6 = x + 6 * n, x7 = x + 7 * n;
        for (int k = 0; k < groupSize; k += 32)
        {
            var v = Q8Ops512.Widen(w + k);
            a0 = Q8Ops512.MultiplyAddPairs(a0, v, Q8Ops512.Load(x + k));
            if (tokens > 1) a1 = Q8Ops512.MultiplyAddPairs(a1, v, Q8Ops512.Load(x1 + k));
            if (tokens > 2) a2 = Q8Ops512.MultiplyAddPairs(a2, v, Q8Ops512.Load(x2 + k));
            if (tokens > 3) a3 = Q8Ops512.MultiplyAddPairs(a3, v, Q8Ops512.Load(x3 + k));
            if (tokens > 4) a4 = Q8Ops512.MultiplyAddPairs(a4, v, Q8Ops512.Load(x4 + k));
            if (tokens > 5) a5 = Q8Ops512.MultiplyAddPairs(a5, v, Q8Ops512.Load(x5 + k));
            if (tokens > 6) a6 = Q8Ops512.MultiplyAddPairs(a6, v, Q8Ops512.Load(x6 + k));
            if (tokens > 7) a7 = Q8Ops512.MultiplyAddPairs(a7, v, Q8Ops512.Load(x7 + k));
        }
        a0.Store(scratch);
        if (tokens > 1) a1.Store(scratch + 256);
        if (tokens > 2) a2.Store(scratch + 2 * 256);
        if (tokens > 3) a3.Store(scratch + 3 * 256);
        if (tokens > 4) a4.Store(scratch + 4 * 256);
        if (tokens > 5) a5.Store(scratch + 5 * 256);
        if (tokens > 6) a6.Store(scratch + 6 * 256);
        if (tokens > 7) a7.Store(scratch + 7 * 256);
    }

    /// <summary>Group i of a run's vector of partial integer sums (512 bits), or zeros past the <paramref name="count"/> groups left.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<int> Group(sbyte* w, short* x, int* xOffsets, int groupSize, int i, int count)
    {
        var acc = Vector512<int>.Zero;
        if (i >= count) return acc;
        sbyte* wg = w + i * groupSize;
        short* xg = x + xOffsets[i];
        for (int k = 0; k < groupSize; k += 32) acc = Q8Ops512.MultiplyAddPairs(acc, Q8Ops512.Widen(wg + k), Q8Ops512.Load(xg + k));
        return acc;
    }

    /// <summary>terms[g] = ((float) sum_g · ws[g]) · xs[g] for the first <paramref name="count"/> lanes (the others are junk).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Terms(Vector512<float> sums, float* ws, float* xs, float* terms, int count)
    {
        if (count == 16)
        {
            (sums * Vector512.Load(ws) * Vector512.Load(xs)).Store(terms);
            return;
        }
        // The row's last groups: scales past them are not to be read.
        sums.Store(terms);
        for (int i = 0; i < count; i++) terms[i] = (terms[i] * ws[i]) * xs[i];
    }

    /// <summary>
    /// Lanes rows' sums, one row per lane: each row's terms (<see cref="RowTerms{TInt, TFloat, TOps}"/>, rows
    /// <paramref name="stride"/> floats apart) added group after group in order, as runq.c adds them, a square of rows ×
    /// groups transposed at a time (through <paramref name="square"/>, Lanes × Lanes floats) so that a vector holds one
    /// group of every row.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TFloat SumRows<TInt, TFloat, TOps>(float* terms, int stride, int groups, float* square)
        where TInt : struct where TFloat : struct where TOps : struct, IQ8Ops<TInt, TFloat>
    {
        int lanes = TOps.Lanes;
        TFloat val = TOps.ZeroFloat;
        for (int g0 = 0; g0 < groups; g0 += lanes)
        {
            TOps.LoadTransposed(terms + g0, stride, square);
            for (int g = 0, count = Math.Min(lanes, groups - g0); g < count; g++) val = TOps.Add(val, TOps.LoadFloat(square + g * lanes));
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
    /// Up to four packed blocks of lanes rows each (TBlocks; <see cref="Pack{TInt, TFloat, TOps}"/>, each
    /// <paramref name="blockStride"/> ints and <paramref name="scalesStride"/> scales after the one before, over
    /// <paramref name="groups"/> whole groups) against TTokens tokens (n int16 apart, scales <paramref name="scalesPerToken"/>
    /// apart): the running sums res[t · resStride + b · lanes + r] go on over these groups. Each broadcast pair of a token's
    /// activations multiplies every block: with 4 × 6 tiles, 10 loads feed 24 multiply-adds, and 24 accumulators hold the
    /// group's integer sums; the running float sums wait in res (L1) and take each group's terms at its end.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Tile<TInt, TFloat, TOps, TTokens, TBlocks>(int* packed, int blockStride, float* packedScales, int scalesStride,
        int groups, int groupSize, short* x, long n, float* xs, int scalesPerToken, float* res, int resStride)
        where TInt : struct where TFloat : struct where TOps : struct, IQ8Ops<TInt, TFloat>
        where TTokens : struct, ITileCount where TBlocks : struct, ITileCount
    {
        int tokens = TTokens.Count, blocks = TBlocks.Count, lanes = TOps.Lanes;
        short* x0 = x, x1 = x + n, x2 = x + 2 * n, x3 = x + 3 * n, x4 = x + 4 * n, x5 = x + 5 * n;
        int* p = packed;
        nint groupLength = groupSize;
        for (int g = 0; g < groups; g++, x0 += groupSize, x1 += groupSize, x2 += groupSize, x3 += groupSize, x4 += groupSize, x5 += groupSize)
        {
            // a{block}{token}: the group's integer sums.
            TInt a00 = TOps.Zero, a01 = TOps.Zero, a02 = TOps.Zero, a03 = TOps.Zero, a04 = TOps.Zero, a05 = TOps.Zero;
            TInt a10 = TOps.Zero, a11 = TOps.Zero, a12 = TOps.Zero, a13 = TOps.Zero, a14 = TOps.Zero, a15 = TOps.Zero;
            TInt a20 = TOps.Zero, a21 = TOps.Zero, a22 = TOps.Zero, a23 = TOps.Zero, a24 = TOps.Zero, a25 = TOps.Zero;
            TInt a30 = TOps.Zero, a31 = TOps.Zero, a32 = TOps.Zero, a33 = TOps.Zero, a34 = TOps.Zero, a35 = TOps.Zero;
            // One index for every token's pair (scaled addressing), one pointer through the packed rows.
            for (nint j = 0; j < groupLength; j += 2, p += lanes)
            {
                TInt w0 = TOps.Load((short*)p), w1 = blocks > 1 ? TOps.Load((short*)(p + blockStride)) : default;
                TInt w2 = blocks > 2 ? TOps.Load((short*)(p + 2 * blockStride)) : default, w3 = blocks > 3 ? TOps.Load((short*)(p + 3 * blockStride)) : default;
                TInt b;
                b = TOps.BroadcastPair(x0 + j);
                a00 = TOps.MultiplyAddPairs(a00, w0, b);
                if (blocks > 1) a10 = TOps.MultiplyAddPairs(a10, w1, b);
                if (blocks > 2) a20 = TOps.MultiplyAddPairs(a20, w2, b);
                if (blocks > 3) a30 = TOps.MultiplyAddPairs(a30, w3, b);
                if (tokens > 1)
                {
                    b = TOps.BroadcastPair(x1 + j);
                    a01 = TOps.MultiplyAddPairs(a01, w0, b);
                    if (blocks > 1) a11 = TOps.MultiplyAddPairs(a11, w1, b);
                    if (blocks > 2) a21 = TOps.MultiplyAddPairs(a21, w2, b);
                    if (blocks > 3) a31 = TOps.MultiplyAddPairs(a31, w3, b);
                }
                if (tokens > 2)
                {
                    b = TOps.BroadcastPair(x2 + j);
                    a02 = TOps.MultiplyAddPairs(a02, w0, b);
                    if (blocks > 1) a12 = TOps.MultiplyAddPairs(a12, w1, b);
                    if (blocks > 2) a22 = TOps.MultiplyAddPairs(a22, w2, b);
                    if (blocks > 3) a32 = TOps.MultiplyAddPairs(a32, w3, b);
                }
                if (tokens > 3)
                {
                    b = TOps.BroadcastPair(x3 + j);
                    a03 = TOps.MultiplyAddPairs(a03, w0, b);
                    if (blocks > 1) a13 = TOps.MultiplyAddPairs(a13, w1, b);
                    if (blocks > 2) a23 = TOps.MultiplyAddPairs(a23, w2, b);
                    if (blocks > 3) a33 = TOps.MultiplyAddPairs(a33, w3, b);
                }
                if (tokens > 4)
                {
                    b = TOps.BroadcastPair(x4 + j);
                    a04 = TOps.MultiplyAddPairs(a04, w0, b);
                    if (blocks > 1) a14 = TOps.MultiplyAddPairs(a14, w1, b);
                    if (blocks > 2) a24 = TOps.MultiplyAddPairs(a24, w2, b);
                    if (blocks > 3) a34 = TOps.MultiplyAddPairs(a34, w3, b);
                }
                if (tokens > 5)
                {
                    b = TOps.BroadcastPair(x5 + j);
                    a05 = TOps.MultiplyAddPairs(a05, w0, b);
                    if (blocks > 1) a15 = TOps.MultiplyAddPairs(a15, w1, b);
                    if (blocks > 2) a25 = TOps.MultiplyAddPairs(a25, w2, b);
                    if (blocks > 3) a35 = TOps.MultiplyAddPairs(a35, w3, b);
                }
            }
            // runq.c's float step for the group: val += ((float) ival · weight scale) · activation scale.
            float* ps = packedScales + g * lanes;
            TFloat s0 = TOps.LoadFloat(ps), s1 = blocks > 1 ? TOps.LoadFloat(ps + scalesStride) : default;
            TFloat s2 = blocks > 2 ? TOps.LoadFloat(ps + 2 * scalesStride) : default, s3 = blocks > 3 ? TOps.LoadFloat(ps + 3 * scalesStride) : default;
            var xs0 = TOps.BroadcastFloat(xs[0 * scalesPerToken + g]);
            float* r0 = res + 0 * resStride;
            Step(r0, a00, s0, xs0);
            if (blocks > 1) Step(r0 + 1 * lanes, a10, s1, xs0);
            if (blocks > 2) Step(r0 + 2 * lanes, a20, s2, xs0);
            if (blocks > 3) Step(r0 + 3 * lanes, a30, s3, xs0);
            if (tokens > 1)
            {
                var xs1 = TOps.BroadcastFloat(xs[1 * scalesPerToken + g]);
                float* r1 = res + 1 * resStride;
                Step(r1, a01, s0, xs1);
                if (blocks > 1) Step(r1 + 1 * lanes, a11, s1, xs1);
                if (blocks > 2) Step(r1 + 2 * lanes, a21, s2, xs1);
                if (blocks > 3) Step(r1 + 3 * lanes, a31, s3, xs1);
            }
            if (tokens > 2)
            {
                var xs2 = TOps.BroadcastFloat(xs[2 * scalesPerToken + g]);
                float* r2 = res + 2 * resStride;
                Step(r2, a02, s0, xs2);
                if (blocks > 1) Step(r2 + 1 * lanes, a12, s1, xs2);
                if (blocks > 2) Step(r2 + 2 * lanes, a22, s2, xs2);
                if (blocks > 3) Step(r2 + 3 * lanes, a32, s3, xs2);
            }
            if (tokens > 3)
            {
                var xs3 = TOps.BroadcastFloat(xs[3 * scalesPerToken + g]);
                float* r3 = res + 3 * resStride;
                Step(r3, a03, s0, xs3);
                if (blocks > 1) Step(r3 + 1 * lanes, a13, s1, xs3);
                if (blocks > 2) Step(r3 + 2 * lanes, a23, s2, xs3);
                if (blocks > 3) Step(r3 + 3 * lanes, a33, s3, xs3);
            }
            if (tokens > 4)
            {
                var xs4 = TOps.BroadcastFloat(xs[4 * scalesPerToken + g]);
                float* r4 = res + 4 * resStride;
                Step(r4, a04, s0, xs4);
                if (blocks > 1) Step(r4 + 1 * lanes, a14, s1, xs4);
                if (blocks > 2) Step(r4 + 2 * lanes, a24, s2, xs4);
                if (blocks > 3) Step(r4 + 3 * lanes, a34, s3, xs4);
            }
            if (tokens > 5)
            {
                var xs5 = TOps.BroadcastFloat(xs[5 * scalesPerToken + g]);
                float* r5 = res + 5 * resStride;
                Step(r5, a05, s0, xs5);
                if (blocks > 1) Step(r5 + 1 * lanes, a15, s1, xs5);
                if (blocks > 2) Step(r5 + 2 * lanes, a25, s2, xs5);
                if (blocks > 3) Step(r5 + 3 * lanes, a35, s3, xs5);
            }
        }

        static void Step(float* val, TInt ival, TFloat weightScales, TFloat activationScale) =>
            TOps.StoreFloat(val, TOps.Add(TOps.LoadFloat(val), TOps.Multiply(TOps.Multiply(TOps.ToFloat(ival), weightScales), activationScale)));
    }

}

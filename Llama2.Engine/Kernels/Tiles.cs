using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Llama2.Engine.Kernels;

/// <summary>
/// The dot-product kernels of the matmuls (<see cref="GemmJob{TW}"/>) and of attention's scores: one row at a time
/// (<see cref="Dot{TVec, TOps}"/>), and register tiles of 4 weight rows × 6, 4 or 1 tokens, written once over
/// <see cref="IVectorOps{TVec}"/> for every vector width and over the stored weight type (<see cref="IWeightElement{TSelf}"/>:
/// fp32, or bf16/fp16 widened to fp32 as they are loaded, which changes no sum).
/// <para>
/// Every kernel computes each output the same way: one vector accumulator over the k-chunks in order (fused
/// multiply-add), its lanes summed by a fixed tree (<see cref="IVectorOps{TVec}.Sum"/>, <see cref="LaneSums"/>), then
/// the leftover k (n not a multiple of the width) added one by one with scalar fused multiply-adds
/// (<see cref="Tail"/>). The tiles only change which outputs are computed side by side, never the order within one.
/// </para>
/// </summary>
[SkipLocalsInit]
internal static unsafe class Tiles
{
    /// <summary>Weight rows per tile: the unit of work a matmul is split into (a block).</summary>
    public const int RowBlock = 4;
    /// <summary>Tokens in the widest tile.</summary>
    public const int TokenBlock = 6;

    /// <summary>
    /// Tokens for the next tile: 6 (the widest kernel) while plenty remain, but 7–9 go as 4 + the rest, so that a
    /// batch of 8 sequences runs two 4-token tiles instead of a 6-token tile and two single-token passes, which cost
    /// as much as a 6-token tile each (4 multiply-adds per 5 loads).
    /// </summary>
    public static int TileTokens(int remaining) => remaining >= 10 ? TokenBlock : remaining > TokenBlock ? 4 : remaining;

    /// <summary>Kernel calls for a tile of this many tokens (see <see cref="Tile{TVec, TOps}"/>).</summary>
    public static int KernelCalls(int tokens) => tokens == TokenBlock ? 1 : tokens >= 4 ? tokens - 3 : tokens;

    /// <summary>Kernel calls per block of 4 rows for a batch of <paramref name="tokens"/>: its tiles' calls together.</summary>
    public static int KernelCallsPerBlock(int tokens)
    {
        int calls = 0;
        for (int t0 = 0, tt; t0 < tokens; t0 += tt) calls += KernelCalls(tt = TileTokens(tokens - t0));
        return calls;
    }

    /// <summary>
    /// res[t · 4 + r] = W[r] · x[t] for rows × tokens ≤ 4 × 6 (rows of W and x are n apart). Its kernel calls are the
    /// block's calls <paramref name="call"/>, …, each prefetching what <paramref name="prefetch"/> gives it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Tile<TVec, TOps, TW>(TW* w, int rows, float* x, int tokens, int n, float* res, int call, in PrefetchPlan prefetch)
        where TVec : struct where TOps : struct, IVectorOps<TVec> where TW : unmanaged, IWeightElement<TW>
    {
        bool shifted = typeof(TW) == typeof(Fp32Weight) && typeof(TVec) == typeof(Vector512<float>) && ShiftedTiles.LinesAreShifted((float*)w, n);
        if (rows == 4 && tokens == 6)
            Dot4x6<TVec, TOps, TW>(w, x, n, res, prefetch.ForCall(call));
        else if (rows == 4)
        {
            int t = 0;
            if (tokens >= 4)
            {
                if (shifted)
                    ShiftedTiles.Dot4x4((float*)w, x, n, res, prefetch.ForCall(call++));
                else
                    Dot4x4<TVec, TOps, TW>(w, x, n, res, prefetch.ForCall(call++));
                t = 4;
            }
            for (; t < tokens; t++)
            {
                if (shifted)
                    ShiftedTiles.Dot4x1((float*)w, x + (long)t * n, n, res + t * RowBlock, prefetch.ForCall(call++));
                else
                    Dot4x1<TVec, TOps, TW>(w, n, x + (long)t * n, n, res + t * RowBlock, prefetch.ForCall(call++));
            }
        }
        else
            for (int r = 0; r < rows; r++)
                for (int t = 0; t < tokens; t++)
                    res[t * RowBlock + r] = Dot<TVec, TOps, TW>(w + (long)r * n, x + (long)t * n, n);
    }

    /// <summary>The scalar leftover of a dot product, after the vector part up to k: always added the same way.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Tail<TW>(float sum, TW* w, float* x, int k, int n) where TW : unmanaged, IWeightElement<TW>
    {
        for (; k < n; k++) sum = MathF.FusedMultiplyAdd(TW.ToSingle(w[k]), x[k], sum);
        return sum;
    }

    /// <summary>Adds the scalar leftover (k up to n) to a tile's sums, res[t · 4 + r], for 4 rows and the given tokens.</summary>
    static void AddTails<TW>(float* res, TW* w, float* x, int k, int n, int tokens) where TW : unmanaged, IWeightElement<TW>
    {
        for (int t = 0; t < tokens; t++)
            for (int r = 0; r < RowBlock; r++)
                res[t * RowBlock + r] = Tail(res[t * RowBlock + r], w + (long)r * n, x + (long)t * n, k, n);
    }

    /// <summary>
    /// One dot product of length n: a single vector accumulator over the k-chunks in order, its lanes summed, then the
    /// scalar leftover. Decoding runs it row after row, like run.c's matmul, with no software prefetch and plain loads
    /// even where rows straddle cache lines: each thread then reads its share of the weights as one sequential stream,
    /// which the hardware prefetcher follows.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot<TVec, TOps>(float* w, float* x, int n)
        where TVec : struct where TOps : struct, IVectorOps<TVec> =>
        Dot<TVec, TOps, Fp32Weight>((Fp32Weight*)w, x, n);

    /// <summary>One dot product of a row of stored weights, widened to fp32 as they are loaded: the same sum.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot<TVec, TOps, TW>(TW* w, float* x, int n)
        where TVec : struct where TOps : struct, IVectorOps<TVec> where TW : unmanaged, IWeightElement<TW>
    {
        TVec a = TOps.Zero;
        int k = 0;
        for (; k <= n - TOps.Width; k += TOps.Width) a = TOps.Fma(TW.Load<TVec, TOps>(w + k), TOps.Load(x + k), a);
        return Tail(TOps.Sum(a), w, x, k, n);
    }

    /// <summary>
    /// Four rows (ldw apart) against one vector: res[0..4). A batch's leftover tokens and attention's scores: each chunk
    /// of x is loaded once for four rows, and four independent accumulators keep the FMA units busy.
    /// </summary>
    public static void Dot4x1<TVec, TOps>(float* w, long ldw, float* x, int n, float* res, NextBlockPrefetch prefetch)
        where TVec : struct where TOps : struct, IVectorOps<TVec> =>
        Dot4x1<TVec, TOps, Fp32Weight>((Fp32Weight*)w, ldw, x, n, res, prefetch);

    public static void Dot4x1<TVec, TOps, TW>(TW* w, long ldw, float* x, int n, float* res, NextBlockPrefetch prefetch)
        where TVec : struct where TOps : struct, IVectorOps<TVec> where TW : unmanaged, IWeightElement<TW>
    {
        TW* w0 = w, w1 = w + ldw, w2 = w + 2 * ldw, w3 = w + 3 * ldw;
        TVec a0 = TOps.Zero, a1 = TOps.Zero, a2 = TOps.Zero, a3 = TOps.Zero;
        int k = 0;
        for (; k <= n - TOps.Width; k += TOps.Width)
        {
            if (prefetch != NextBlockPrefetch.None) PrefetchPlan.NextBlock(w0, ldw, k, prefetch); // fetched while this block is summed
            TVec xv = TOps.Load(x + k);
            a0 = TOps.Fma(TW.Load<TVec, TOps>(w0 + k), xv, a0);
            a1 = TOps.Fma(TW.Load<TVec, TOps>(w1 + k), xv, a1);
            a2 = TOps.Fma(TW.Load<TVec, TOps>(w2 + k), xv, a2);
            a3 = TOps.Fma(TW.Load<TVec, TOps>(w3 + k), xv, a3);
        }
        res[0] = Tail(TOps.Sum(a0), w0, x, k, n);
        res[1] = Tail(TOps.Sum(a1), w1, x, k, n);
        res[2] = Tail(TOps.Sum(a2), w2, x, k, n);
        res[3] = Tail(TOps.Sum(a3), w3, x, k, n);
    }

    /// <summary>
    /// Prefill's micro-kernel: 4 weight rows × 6 tokens, 24 accumulators in registers. Each k-chunk costs 10 loads
    /// for 24 fused multiply-adds, and the 4 weight rows stay in L1 while the kernel walks over all the tokens.
    /// </summary>
    static void Dot4x6<TVec, TOps, TW>(TW* w, float* x, int n, float* res, NextBlockPrefetch prefetch)
        where TVec : struct where TOps : struct, IVectorOps<TVec> where TW : unmanaged, IWeightElement<TW>
    {
        TW* w0 = w, w1 = w + n, w2 = w + 2 * n, w3 = w + 3 * n;
        float* x0 = x, x1 = x + n, x2 = x + 2 * n, x3 = x + 3 * n, x4 = x + 4 * n, x5 = x + 5 * n;
        TVec a00 = TOps.Zero, a01 = TOps.Zero, a02 = TOps.Zero, a03 = TOps.Zero, a04 = TOps.Zero, a05 = TOps.Zero;
        TVec a10 = TOps.Zero, a11 = TOps.Zero, a12 = TOps.Zero, a13 = TOps.Zero, a14 = TOps.Zero, a15 = TOps.Zero;
        TVec a20 = TOps.Zero, a21 = TOps.Zero, a22 = TOps.Zero, a23 = TOps.Zero, a24 = TOps.Zero, a25 = TOps.Zero;
        TVec a30 = TOps.Zero, a31 = TOps.Zero, a32 = TOps.Zero, a33 = TOps.Zero, a34 = TOps.Zero, a35 = TOps.Zero;
        int k = 0;
        for (; k <= n - TOps.Width; k += TOps.Width)
        {
            if (prefetch != NextBlockPrefetch.None) PrefetchPlan.NextBlock(w0, n, k, prefetch);
            TVec v0 = TW.Load<TVec, TOps>(w0 + k), v1 = TW.Load<TVec, TOps>(w1 + k), v2 = TW.Load<TVec, TOps>(w2 + k), v3 = TW.Load<TVec, TOps>(w3 + k);
            TVec xv;
            xv = TOps.Load(x0 + k);
            a00 = TOps.Fma(v0, xv, a00); a10 = TOps.Fma(v1, xv, a10); a20 = TOps.Fma(v2, xv, a20); a30 = TOps.Fma(v3, xv, a30);
            xv = TOps.Load(x1 + k);
            a01 = TOps.Fma(v0, xv, a01); a11 = TOps.Fma(v1, xv, a11); a21 = TOps.Fma(v2, xv, a21); a31 = TOps.Fma(v3, xv, a31);
            xv = TOps.Load(x2 + k);
            a02 = TOps.Fma(v0, xv, a02); a12 = TOps.Fma(v1, xv, a12); a22 = TOps.Fma(v2, xv, a22); a32 = TOps.Fma(v3, xv, a32);
            xv = TOps.Load(x3 + k);
            a03 = TOps.Fma(v0, xv, a03); a13 = TOps.Fma(v1, xv, a13); a23 = TOps.Fma(v2, xv, a23); a33 = TOps.Fma(v3, xv, a33);
            xv = TOps.Load(x4 + k);
            a04 = TOps.Fma(v0, xv, a04); a14 = TOps.Fma(v1, xv, a14); a24 = TOps.Fma(v2, xv, a24); a34 = TOps.Fma(v3, xv, a34);
            xv = TOps.Load(x5 + k);
            a05 = TOps.Fma(v0, xv, a05); a15 = TOps.Fma(v1, xv, a15); a25 = TOps.Fma(v2, xv, a25); a35 = TOps.Fma(v3, xv, a35);
        }
        LaneSums.Store16<TVec, TOps>(res, a00, a10, a20, a30, a01, a11, a21, a31, a02, a12, a22, a32, a03, a13, a23, a33);
        LaneSums.Store8<TVec, TOps>(res + 16, a04, a14, a24, a34, a05, a15, a25, a35);
        if (k < n) AddTails(res, w, x, k, n, TokenBlock);
    }

    /// <summary>
    /// 4 weight rows × 4 tokens, the batch's leftover tokens.
    /// </summary>
    static void Dot4x4<TVec, TOps, TW>(TW* w, float* x, int n, float* res, NextBlockPrefetch prefetch)
        where TVec : struct where TOps : struct, IVectorOps<TVec> where TW : unmanaged, IWeightElement<TW>
    {
        TW* w0 = w, w1 = w + n, w2 = w + 2 * n, w3 = w + 3 * n;
        float* x0 = x, x1 = x + n, x2 = x + 2 * n, x3 = x + 3 * n;
        TVec a00 = TOps.Zero, a01 = TOps.Zero, a02 = TOps.Zero, a03 = TOps.Zero;
        TVec a10 = TOps.Zero, a11 = TOps.Zero, a12 = TOps.Zero, a13 = TOps.Zero;
        TVec a20 = TOps.Zero, a21 = TOps.Zero, a22 = TOps.Zero, a23 = TOps.Zero;
        TVec a30 = TOps.Zero, a31 = TOps.Zero, a32 = TOps.Zero, a33 = TOps.Zero;
        int k = 0;
        for (; k <= n - TOps.Width; k += TOps.Width)
        {
            if (prefetch != NextBlockPrefetch.None) PrefetchPlan.NextBlock(w0, n, k, prefetch);
            TVec v0 = TW.Load<TVec, TOps>(w0 + k), v1 = TW.Load<TVec, TOps>(w1 + k), v2 = TW.Load<TVec, TOps>(w2 + k), v3 = TW.Load<TVec, TOps>(w3 + k);
            TVec xv = TOps.Load(x0 + k);
            a00 = TOps.Fma(v0, xv, a00); a10 = TOps.Fma(v1, xv, a10); a20 = TOps.Fma(v2, xv, a20); a30 = TOps.Fma(v3, xv, a30);
            xv = TOps.Load(x1 + k);
            a01 = TOps.Fma(v0, xv, a01); a11 = TOps.Fma(v1, xv, a11); a21 = TOps.Fma(v2, xv, a21); a31 = TOps.Fma(v3, xv, a31);
            xv = TOps.Load(x2 + k);
            a02 = TOps.Fma(v0, xv, a02); a12 = TOps.Fma(v1, xv, a12); a22 = TOps.Fma(v2, xv, a22); a32 = TOps.Fma(v3, xv, a32);
            xv = TOps.Load(x3 + k);
            a03 = TOps.Fma(v0, xv, a03); a13 = TOps.Fma(v1, xv, a13); a23 = TOps.Fma(v2, xv, a23); a33 = TOps.Fma(v3, xv, a33);
        }
        LaneSums.Store16<TVec, TOps>(res, a00, a10, a20, a30, a01, a11, a21, a31, a02, a12, a22, a32, a03, a13, a23, a33);
        if (k < n) AddTails(res, w, x, k, n, 4);
    }
}

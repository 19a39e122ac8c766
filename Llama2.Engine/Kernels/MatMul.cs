using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Llama2.Engine.Kernels;

/// <summary>
/// Weights × activations: out[t, i] = Σ_k W[i, k] · x[t, k] for every row i of a row-major weight matrix (d × n)
/// and every token t of a batch (tokens × n, one row per token). One token is decoding (matrix × vector, bound by
/// reading the weights); a prompt is prefill (matrix × matrix, bound by arithmetic).
/// <para>
/// Determinism: every output is the same dot product, computed the same way whatever the batch: one vector
/// accumulator over the k-chunks in order (fused multiply-add), its lanes summed by a fixed tree, then the leftover
/// k (n not a multiple of the width) added one by one with scalar fused multiply-adds. The register-blocked tiles
/// (4 rows × 6 tokens, 4 × 4, 4 × 1) and decoding's row-at-a-time loop only change which outputs are computed
/// side by side, never the order within one, so a batch of tokens gives bit for bit what the tokens give one at a time.
/// </para>
/// </summary>
[SkipLocalsInit]
public static unsafe class MatMul
{
    const int RowBlock = 4, TokenBlock = 6;
    // Up to this many tokens a pass is bound by reading the weights, and each thread reads one contiguous share of
    // them (Workers.For's oneSharePerThread): in-process A/B against a few chunks per thread, one token ×1.055 (15M),
    // ×1.042 (42M), ×1.00 (110M); a step of 8 sequences ×1.01–1.02 (42M, 110M).
    const int StreamingTokens = 8;
    // A prompt's matmul runs in panels of up to 16 blocks (64 weight rows): each tile of 6 tokens goes over the whole
    // panel before the next tile, so the tile's activations stay in L1 and the panel's rows are read from L2, rather
    // than the activations of every token streaming from L2 again for each block. A panel holds at most PanelBytes of
    // weights (L2 is 1 MiB per core here, 256 KiB–2 MiB elsewhere). 128-token prefill, in-process A/B against one
    // block at a time (alternating, 12 rounds): ×1.09 (110M, faster in all 12), ×1.06 (42M), ×1.015 (15M); a step of
    // 8 sequences × 4–5 prompt tokens on 110M ×1.045–1.064. Only for batches whose blocks prefetch the next block
    // whole into L2 (WholeBlockToL2): with 16 or 24 tokens, whose prefetch is non-temporal, panels ran ×0.76–0.81.
    const int MaxPanelBlocks = 16, PanelBytes = 512 * 1024;

    /// <summary>xout (d) = W (d × n) · x (n).</summary>
    public static void MatVec(Span<float> xout, ReadOnlySpan<float> x, ReadOnlySpan<float> w, int n, int d) =>
        Gemm(xout, x, w, n, d, 1);

    /// <summary>xout (tokens × d) = x (tokens × n) · Wᵀ, W being d × n.</summary>
    public static void Gemm(Span<float> xout, ReadOnlySpan<float> x, ReadOnlySpan<float> w, int n, int d, int tokens) =>
        Run(Simd.Width, Epilogue.Store, x, n, tokens, w, default, xout, d);

    /// <summary>xout (tokens × d) += x (tokens × n) · Wᵀ: a projection added to the residual stream.</summary>
    public static void GemmAdd(Span<float> xout, ReadOnlySpan<float> x, ReadOnlySpan<float> w, int n, int d, int tokens) =>
        Run(Simd.Width, Epilogue.Add, x, n, tokens, w, default, xout, d);

    /// <summary>
    /// The feed-forward's first half in one pass: h (tokens × hidden) = silu(x · W1ᵀ) ⊙ (x · W3ᵀ), the rows of W1 and
    /// W3 read side by side.
    /// </summary>
    public static void SwiGlu(Span<float> h, ReadOnlySpan<float> x, ReadOnlySpan<float> w1, ReadOnlySpan<float> w3,
        int n, int hidden, int tokens) =>
        Run(Simd.Width, Epilogue.SwiGlu, x, n, tokens, w1, w3, h, hidden);

    /// <summary>
    /// Three projections of the same activations in one dispatch (attention's q, k and v):
    /// q (tokens × dq) = x · Wqᵀ, k (tokens × dk) = x · Wkᵀ, v (tokens × dv) = x · Wvᵀ.
    /// </summary>
    public static void Gemm3(ReadOnlySpan<float> x, int n, int tokens,
        ReadOnlySpan<float> wq, Span<float> q, int dq,
        ReadOnlySpan<float> wk, Span<float> k, int dk,
        ReadOnlySpan<float> wv, Span<float> v, int dv) =>
        Gemm3(Simd.Width, x, n, tokens, wq, q, dq, wk, k, dk, wv, v, dv);

    /// <summary>The kernels at a given vector width (16, 8, 4 or 1), so that tests can check every rung of the ladder.</summary>
    internal static void Gemm(int width, Span<float> xout, ReadOnlySpan<float> x, ReadOnlySpan<float> w, int n, int d, int tokens) =>
        Run(width, Epilogue.Store, x, n, tokens, w, default, xout, d);

    internal static void GemmAdd(int width, Span<float> xout, ReadOnlySpan<float> x, ReadOnlySpan<float> w, int n, int d, int tokens) =>
        Run(width, Epilogue.Add, x, n, tokens, w, default, xout, d);

    internal static void SwiGlu(int width, Span<float> h, ReadOnlySpan<float> x, ReadOnlySpan<float> w1, ReadOnlySpan<float> w3,
        int n, int hidden, int tokens) =>
        Run(width, Epilogue.SwiGlu, x, n, tokens, w1, w3, h, hidden);

    internal static void Gemm3(int width, ReadOnlySpan<float> x, int n, int tokens,
        ReadOnlySpan<float> wq, Span<float> q, int dq,
        ReadOnlySpan<float> wk, Span<float> k, int dk,
        ReadOnlySpan<float> wv, Span<float> v, int dv)
    {
        Check(x, n, tokens, wq, q, dq);
        Check(x, n, tokens, wk, k, dk);
        Check(x, n, tokens, wv, v, dv);
        fixed (float* px = x, pwq = wq, pq = q, pwk = wk, pk = k, pwv = wv, pv = v)
        {
            var job = new GemmJob(width, Epilogue.Store, px, n, tokens,
                new Projection(pwq, null, dq, pq), new Projection(pwk, null, dk, pk), new Projection(pwv, null, dv, pv));
            Workers.For(job.Blocks, ref job, oneSharePerThread: tokens <= StreamingTokens);
        }
    }

    static void Run(int width, Epilogue mode, ReadOnlySpan<float> x, int n, int tokens, ReadOnlySpan<float> w, ReadOnlySpan<float> w3,
        Span<float> xout, int d)
    {
        Check(x, n, tokens, w, xout, d);
        if (mode == Epilogue.SwiGlu && w3.Length < (long)n * d) throw new ArgumentException("matrix and vector sizes do not match");
        fixed (float* px = x, pw = w, pw3 = w3, pout = xout)
        {
            var job = new GemmJob(width, mode, px, n, tokens, new Projection(pw, pw3, d, pout), default, default);
            Workers.For(job.Blocks, ref job, oneSharePerThread: tokens <= StreamingTokens);
        }
    }

    static void Check(ReadOnlySpan<float> x, int n, int tokens, ReadOnlySpan<float> w, Span<float> xout, int d)
    {
        if (n <= 0 || d < 0 || tokens <= 0 || w.Length < (long)n * d || x.Length < (long)n * tokens || xout.Length < (long)d * tokens)
            throw new ArgumentException("matrix and vector sizes do not match");
    }

    enum Epilogue { Store, Add, SwiGlu }

    /// <summary>One weight matrix (rows × n) and where its outputs go (tokens × rows).</summary>
    readonly struct Projection(float* w, float* w3, int rows, float* output)
    {
        public readonly float* W = w, W3 = w3, Out = output;
        public readonly int Rows = rows;
        public int Blocks => (Rows + RowBlock - 1) / RowBlock;
    }

    /// <summary>Up to three projections of the same activations; the unit of work is a block of 4 weight rows.</summary>
    readonly struct GemmJob(int width, Epilogue mode, float* x, int n, int tokens, Projection p0, Projection p1, Projection p2) : IRowJob
    {
        // Which rows of the next block each kernel call of a block prefetches, 4 bits per call (see PrefetchRows):
        // the same for every block, so worked out once.
        readonly long _prefetchMasks = PrefetchMasks(tokens);

        public int Blocks => p0.Blocks + p1.Blocks + p2.Blocks;
        public long CostPerRow => (long)RowBlock * n * tokens * (mode == Epilogue.SwiGlu ? 2 : 1);

        public void Run(int start, int end)
        {
            if (tokens == 1)
            {
                Decode(start, end);
                return;
            }
            // Batches of a few tiles go one block at a time: their few kernel calls per block share out the next
            // block's prefetch, non-temporally, so a panel's rows would not stay in L2 for its next tile.
            int panel = _prefetchMasks != WholeBlockToL2 ? 1
                : Math.Clamp(PanelBytes / (RowBlock * n * sizeof(float) * (mode == Epilogue.SwiGlu ? 2 : 1)), 1, MaxPanelBlocks);
            for (int i = 0; i < 3; i++)
            {
                var (p, from, blocks) = Part(i, start, end);
                for (int b = 0; b < blocks; b += panel)
                    Panel(p, from + b, Math.Min(panel, blocks - b));
            }
        }

        /// <summary>
        /// The part of the chunk of blocks [start, end) (numbered across the projections in turn) that falls in
        /// projection <paramref name="i"/>: its first block within that projection and how many (0 or less: none).
        /// </summary>
        (Projection P, int From, int Blocks) Part(int i, int start, int end)
        {
            var p = i == 0 ? p0 : i == 1 ? p1 : p2;
            int offset = i == 0 ? 0 : i == 1 ? p0.Blocks : p0.Blocks + p1.Blocks;
            int from = Math.Max(start, offset);
            return (p, from - offset, Math.Min(end, offset + p.Blocks) - from);
        }

        /// <summary>
        /// Decoding (one token): the chunk's rows of each projection one after another, each a single dot product, so
        /// that a thread reads its share of a matrix front to back as one stream, with nothing between two rows but
        /// the store. SwiGLU reads its W1 rows, then its W3 rows, rather than the two side by side.
        /// </summary>
        void Decode(int start, int end)
        {
            switch (width)
            {
                case 16: Decode<Vector512<float>, Ops512>(start, end); break;
                case 8: Decode<Vector256<float>, Ops256>(start, end); break;
                case 4: Decode<Vector128<float>, Ops128>(start, end); break;
                default: Decode<float, OpsScalar>(start, end); break;
            }
        }

        void Decode<TVec, TOps>(int start, int end) where TVec : struct where TOps : struct, IVectorOps<TVec>
        {
            for (int i = 0; i < 3; i++)
            {
                var (p, from, blocks) = Part(i, start, end);
                if (blocks > 0) DecodeRows<TVec, TOps>(p, from * RowBlock, Math.Min((from + blocks) * RowBlock, p.Rows));
            }
        }

        void DecodeRows<TVec, TOps>(in Projection p, int from, int to) where TVec : struct where TOps : struct, IVectorOps<TVec>
        {
            float* o = p.Out;
            if (mode == Epilogue.SwiGlu)
            {
                for (int r = from; r < to; r++) o[r] = Dot<TVec, TOps>(p.W + (long)r * n, x, n);
                for (int r = from; r < to; r++) o[r] = Ops.Silu(o[r]) * Dot<TVec, TOps>(p.W3 + (long)r * n, x, n);
            }
            else if (mode == Epilogue.Add)
                for (int r = from; r < to; r++) o[r] += Dot<TVec, TOps>(p.W + (long)r * n, x, n);
            else
                for (int r = from; r < to; r++) o[r] = Dot<TVec, TOps>(p.W + (long)r * n, x, n);
        }

        void Panel(in Projection p, int firstBlock, int blocks)
        {
            switch (width)
            {
                case 16: Panel<Vector512<float>, Ops512>(p, firstBlock, blocks); break;
                case 8: Panel<Vector256<float>, Ops256>(p, firstBlock, blocks); break;
                case 4: Panel<Vector128<float>, Ops128>(p, firstBlock, blocks); break;
                default: Panel<float, OpsScalar>(p, firstBlock, blocks); break;
            }
        }

        void Panel<TVec, TOps>(in Projection p, int firstBlock, int blocks) where TVec : struct where TOps : struct, IVectorOps<TVec>
        {
            float* res = stackalloc float[RowBlock * TokenBlock];
            float* res3 = stackalloc float[RowBlock * TokenBlock];
            for (int t0 = 0, tt, call = 0; t0 < tokens; t0 += tt, call += KernelCalls(tt))
            {
                tt = TileTokens(tokens - t0);
                float* xt = x + (long)t0 * n;
                for (int block = firstBlock; block < firstBlock + blocks; block++)
                {
                    int row0 = block * RowBlock, rows = Math.Min(RowBlock, p.Rows - row0);
                    Tile<TVec, TOps>(p.W + (long)row0 * n, rows, xt, tt, n, res, call, _prefetchMasks);
                    if (mode == Epilogue.SwiGlu) Tile<TVec, TOps>(p.W3 + (long)row0 * n, rows, xt, tt, n, res3, call, _prefetchMasks);
                    for (int t = 0; t < tt; t++)
                    {
                        float* o = p.Out + (long)(t0 + t) * p.Rows + row0, rt = res + t * RowBlock, rt3 = res3 + t * RowBlock;
                        if (rows == RowBlock && (mode != Epilogue.SwiGlu || Exp.IsVectorized))
                        {
                            // A token's four rows at once (silu with glibc's expf vectorized: the same bits as one at a time).
                            var v = Vector128.Load(rt);
                            switch (mode)
                            {
                                case Epilogue.Store: v.Store(o); break;
                                case Epilogue.Add: (Vector128.Load(o) + v).Store(o); break;
                                default: (Ops.Silu(v) * Vector128.Load(rt3)).Store(o); break;
                            }
                            continue;
                        }
                        for (int r = 0; r < rows; r++)
                        {
                            switch (mode)
                            {
                                case Epilogue.Store: o[r] = rt[r]; break;
                                case Epilogue.Add: o[r] += rt[r]; break;
                                default: o[r] = Ops.Silu(rt[r]) * rt3[r]; break;
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// Tokens for the next tile: 6 (the widest kernel) while plenty remain, but 7–9 go as 4 + the rest, so that a
    /// batch of 8 sequences runs two 4-token tiles instead of a 6-token tile and two single-token passes, which cost
    /// as much as a 6-token tile each (4 multiply-adds per 5 loads).
    /// </summary>
    static int TileTokens(int remaining) => remaining >= 10 ? TokenBlock : remaining > TokenBlock ? 4 : remaining;

    /// <summary>
    /// Which rows of the next block each kernel call of a block of a batch of <paramref name="tokens"/> prefetches: 4
    /// bits per call (a bit per row), call 0 in the lowest. For a small batch the rows are shared out over the calls: a
    /// prefetch that finds every miss buffer busy holds up the kernel, so if the first call fetched all four rows it
    /// would wait on memory, and the calls after it would leave memory idle while they compute (a batch of 8 on 110M:
    /// 17.2 → 14.9 ms of matmuls per step). A prompt's block takes many calls and is compute-bound: its first call
    /// fetches the whole next block, into L2 (<see cref="WholeBlockToL2"/>).
    /// </summary>
    static long PrefetchMasks(int tokens)
    {
        int calls = 0;
        for (int t0 = 0, tt; t0 < tokens; t0 += tt) calls += KernelCalls(tt = TileTokens(tokens - t0));
        if (calls > RowBlock) return WholeBlockToL2;
        long masks = 0;
        for (int r = 0; r < RowBlock; r++) masks |= 1L << (4 * (r * calls / RowBlock) + r);
        return masks;
    }

    /// <summary>
    /// A prompt's prefetch: the first call fetches all four rows of the next block into L2 rather than non-temporally.
    /// The block's remaining calls stream the prompt's activations through L1, which evicted the next block's lines
    /// before they were used: 128-token prefill ×1.02–1.07 (in-process A/B, alternating, 15M/42M/110M).
    /// </summary>
    const int WholeBlockToL2 = 0b1_1111;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static int PrefetchRows(long masks, int call) =>
        masks == WholeBlockToL2 ? (call == 0 ? WholeBlockToL2 : 0) : call < 16 ? (int)(masks >> (4 * call)) & 0b1111 : 0;

    /// <summary>Micro-kernel calls for a tile of this many tokens (see <see cref="Tile"/>).</summary>
    static int KernelCalls(int tokens) => tokens == TokenBlock ? 1 : tokens >= 4 ? tokens - 3 : tokens;

    /// <summary>
    /// res[t · 4 + r] = W[r] · x[t] for rows × tokens ≤ 4 × 6 (rows of W and x are n apart). Its kernel calls are the
    /// block's calls <paramref name="call"/>, …, each prefetching its share of the next block (<see cref="PrefetchMasks"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Tile<TVec, TOps>(float* w, int rows, float* x, int tokens, int n, float* res, int call, long masks)
        where TVec : struct where TOps : struct, IVectorOps<TVec>
    {
        bool shifted = typeof(TVec) == typeof(Vector512<float>) && LinesAreShifted(w, n);
        if (rows == 4 && tokens == 6)
            Dot4x6<TVec, TOps>(w, x, n, res, PrefetchRows(masks, call));
        else if (rows == 4)
        {
            int t = 0;
            if (tokens >= 4)
            {
                if (shifted)
                    Dot4x4Shifted(w, x, n, res, PrefetchRows(masks, call++));
                else
                    Dot4x4<TVec, TOps>(w, x, n, res, PrefetchRows(masks, call++));
                t = 4;
            }
            for (; t < tokens; t++)
            {
                if (shifted)
                    Dot4x1Shifted(w, x + (long)t * n, n, res + t * RowBlock, PrefetchRows(masks, call++));
                else
                    Dot4x1<TVec, TOps>(w, n, x + (long)t * n, n, res + t * RowBlock, PrefetchRows(masks, call++));
            }
        }
        else
            for (int r = 0; r < rows; r++)
                for (int t = 0; t < tokens; t++)
                    res[t * RowBlock + r] = Dot<TVec, TOps>(w + (long)r * n, x + (long)t * n, n);
    }

    /// <summary>
    /// Fetches the cache line at offset k of the given rows (a bit each) of the block of 4 rows that follows (w0 is the
    /// first row of this block).
    /// Non-temporal: weights are read once per step, so they should not push the activations and the KV cache out of L2;
    /// except a prompt's whole next block (<see cref="WholeBlockToL2"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void PrefetchNextBlock(float* w0, long ldw, int k, int rows)
    {
        if (!Sse.IsSupported || (k & 15) != 0) return;
        float* next = w0 + 4 * ldw + k;
        if (rows == WholeBlockToL2)
        {
            Sse.Prefetch1(next);
            Sse.Prefetch1(next + ldw);
            Sse.Prefetch1(next + 2 * ldw);
            Sse.Prefetch1(next + 3 * ldw);
            return;
        }
        if (rows == 0b1111)
        {
            Sse.PrefetchNonTemporal(next);
            Sse.PrefetchNonTemporal(next + ldw);
            Sse.PrefetchNonTemporal(next + 2 * ldw);
            Sse.PrefetchNonTemporal(next + 3 * ldw);
            return;
        }
        if ((rows & 1) != 0) Sse.PrefetchNonTemporal(next);
        if ((rows & 2) != 0) Sse.PrefetchNonTemporal(next + ldw);
        if ((rows & 4) != 0) Sse.PrefetchNonTemporal(next + 2 * ldw);
        if ((rows & 8) != 0) Sse.PrefetchNonTemporal(next + 3 * ldw);
    }

    /// <summary>The scalar leftover of a dot product, after the vector part up to k: always added the same way.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Tail(float sum, float* w, float* x, int k, int n)
    {
        for (; k < n; k++) sum = MathF.FusedMultiplyAdd(w[k], x[k], sum);
        return sum;
    }

    /// <summary>Adds the scalar leftover (k up to n) to a tile's sums, res[t · 4 + r], for 4 rows and the given tokens.</summary>
    static void AddTails(float* res, float* w, float* x, int k, int n, int tokens)
    {
        for (int t = 0; t < tokens; t++)
            for (int r = 0; r < RowBlock; r++)
                res[t * RowBlock + r] = Tail(res[t * RowBlock + r], w + (long)r * n, x + (long)t * n, k, n);
    }

    /// <summary>
    /// One dot product of length n: a single vector accumulator over the k-chunks in order, its lanes summed, then the
    /// scalar leftover. Decoding runs it row after row (see <see cref="GemmJob"/>'s Decode), like run.c's matmul: no
    /// software prefetch and plain loads, even where rows straddle cache lines. In one process on the same mapped
    /// checkpoint, alternating with run.c's own forward pass (2026-12-02, afternoon), the earlier decode kernel (a
    /// non-temporal prefetch 4 KiB ahead, rows shifted into place from whole lines, one call per row, W1 and W3 rows
    /// interleaved) decoded at ×0.80 (110M), ×0.875 (42M) and ×0.91 (15M) of run.c's speed, this loop at ×1.07, ×1.14
    /// and ×0.98. The hardware prefetcher follows one sequential stream per thread; software prefetching helped on some
    /// days and hurt on others.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Dot<TVec, TOps>(float* w, float* x, int n)
        where TVec : struct where TOps : struct, IVectorOps<TVec>
    {
        TVec a = TOps.Zero;
        int k = 0;
        for (; k <= n - TOps.Width; k += TOps.Width) a = TOps.Fma(TOps.Load(w + k), TOps.Load(x + k), a);
        return Tail(TOps.Sum(a), w, x, k, n);
    }

    /// <summary>
    /// Four rows (ldw apart) against one vector: res[0..4). A batch's leftover tokens and attention's scores: each chunk
    /// of x is loaded once for four rows, and four independent accumulators keep the FMA units busy.
    /// </summary>
    internal static void Dot4x1<TVec, TOps>(float* w, long ldw, float* x, int n, float* res, int prefetch = 0b1111)
        where TVec : struct where TOps : struct, IVectorOps<TVec>
    {
        float* w0 = w, w1 = w + ldw, w2 = w + 2 * ldw, w3 = w + 3 * ldw;
        TVec a0 = TOps.Zero, a1 = TOps.Zero, a2 = TOps.Zero, a3 = TOps.Zero;
        int k = 0;
        for (; k <= n - TOps.Width; k += TOps.Width)
        {
            if (prefetch != 0) PrefetchNextBlock(w0, ldw, k, prefetch); // fetched while this block is summed
            TVec xv = TOps.Load(x + k);
            a0 = TOps.Fma(TOps.Load(w0 + k), xv, a0);
            a1 = TOps.Fma(TOps.Load(w1 + k), xv, a1);
            a2 = TOps.Fma(TOps.Load(w2 + k), xv, a2);
            a3 = TOps.Fma(TOps.Load(w3 + k), xv, a3);
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
    static void Dot4x6<TVec, TOps>(float* w, float* x, int n, float* res, int prefetch) where TVec : struct where TOps : struct, IVectorOps<TVec>
    {
        float* w0 = w, w1 = w + n, w2 = w + 2 * n, w3 = w + 3 * n;
        float* x0 = x, x1 = x + n, x2 = x + 2 * n, x3 = x + 3 * n, x4 = x + 4 * n, x5 = x + 5 * n;
        TVec a00 = TOps.Zero, a01 = TOps.Zero, a02 = TOps.Zero, a03 = TOps.Zero, a04 = TOps.Zero, a05 = TOps.Zero;
        TVec a10 = TOps.Zero, a11 = TOps.Zero, a12 = TOps.Zero, a13 = TOps.Zero, a14 = TOps.Zero, a15 = TOps.Zero;
        TVec a20 = TOps.Zero, a21 = TOps.Zero, a22 = TOps.Zero, a23 = TOps.Zero, a24 = TOps.Zero, a25 = TOps.Zero;
        TVec a30 = TOps.Zero, a31 = TOps.Zero, a32 = TOps.Zero, a33 = TOps.Zero, a34 = TOps.Zero, a35 = TOps.Zero;
        int k = 0;
        for (; k <= n - TOps.Width; k += TOps.Width)
        {
            if (prefetch != 0) PrefetchNextBlock(w0, n, k, prefetch);
            TVec v0 = TOps.Load(w0 + k), v1 = TOps.Load(w1 + k), v2 = TOps.Load(w2 + k), v3 = TOps.Load(w3 + k);
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
    static void Dot4x4<TVec, TOps>(float* w, float* x, int n, float* res, int prefetch) where TVec : struct where TOps : struct, IVectorOps<TVec>
    {
        float* w0 = w, w1 = w + n, w2 = w + 2 * n, w3 = w + 3 * n;
        float* x0 = x, x1 = x + n, x2 = x + 2 * n, x3 = x + 3 * n;
        TVec a00 = TOps.Zero, a01 = TOps.Zero, a02 = TOps.Zero, a03 = TOps.Zero;
        TVec a10 = TOps.Zero, a11 = TOps.Zero, a12 = TOps.Zero, a13 = TOps.Zero;
        TVec a20 = TOps.Zero, a21 = TOps.Zero, a22 = TOps.Zero, a23 = TOps.Zero;
        TVec a30 = TOps.Zero, a31 = TOps.Zero, a32 = TOps.Zero, a33 = TOps.Zero;
        int k = 0;
        for (; k <= n - TOps.Width; k += TOps.Width)
        {
            if (prefetch != 0) PrefetchNextBlock(w0, n, k, prefetch);
            TVec v0 = TOps.Load(w0 + k), v1 = TOps.Load(w1 + k), v2 = TOps.Load(w2 + k), v3 = TOps.Load(w3 + k);
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

    /// <summary>
    /// Whether the rows of W all start the same distance past a 64-byte line, but not on one: llama2.c's legacy
    /// checkpoints have a 28-byte header, so every weight row sits 7 floats into a cache line and each of its 64-byte
    /// loads would straddle two lines. Then the AVX-512 kernels load whole lines and shift the row into place.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static bool LinesAreShifted(float* w, int n) =>
        Avx512F.IsSupported && (n & 15) == 0 && ((nint)w & 63) != 0 && ((nint)w & 3) == 0;

    /// <summary>
    /// Which lanes of two consecutive aligned lines (lo, hi) hold the 16 floats that start <paramref name="w"/>'s
    /// offset into lo: indices ≥ 16 pick from hi.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<int> ShiftIndices(float* w) =>
        Vector512<int>.Indices + Vector512.Create((int)((nint)w & 63) >> 2);

    /// <summary>
    /// <see cref="Dot4x4"/> for rows that start inside a cache line (<see cref="LinesAreShifted"/>): each row is read as
    /// aligned lines, and each 16-float chunk of it is put together from two of them with one permute, the same chunk
    /// a straight load would give, so the result is bit for bit <see cref="Dot4x4"/>'s. A straddling load costs two
    /// cache accesses, which made the 4 × 4 tile load-bound (measured in C: 120 → 155 GFLOP/s per core).
    /// Every line read holds at least one float of its row, so nothing is read past the row's last line.
    /// </summary>
    static void Dot4x4Shifted(float* w, float* x, int n, float* res, int prefetch)
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
            if (prefetch != 0) PrefetchNextBlock(w, n, k, prefetch);
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
        // n is a multiple of 16: no scalar tail, as in Dot4x4 for such n.
        LaneSums.Store16<Vector512<float>, Ops512>(res, a00, a10, a20, a30, a01, a11, a21, a31, a02, a12, a22, a32, a03, a13, a23, a33);
    }

    /// <summary><see cref="Dot4x1"/> (rows n apart) for rows that start inside a cache line, as <see cref="Dot4x4Shifted"/>.</summary>
    static void Dot4x1Shifted(float* w, float* x, int n, float* res, int prefetch)
    {
        var shift = ShiftIndices(w);
        float* l0 = (float*)((nint)w & ~(nint)63), l1 = l0 + n, l2 = l0 + 2 * n, l3 = l0 + 3 * n;
        Vector512<float> p0 = Vector512.LoadAligned(l0), p1 = Vector512.LoadAligned(l1), p2 = Vector512.LoadAligned(l2), p3 = Vector512.LoadAligned(l3);
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (int k = 0; k < n; k += 16)
        {
            if (prefetch != 0) PrefetchNextBlock(w, n, k, prefetch);
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

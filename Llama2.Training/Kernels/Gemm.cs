using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Llama2.Engine.Kernels;

namespace Llama2.Training.Kernels;

/// <summary>Which part of a product attention's causal mask needs; the rest is skipped.</summary>
internal enum Triangle
{
    /// <summary>The whole product.</summary>
    None,
    /// <summary>
    /// Only C[i, j] with j ≤ i is needed (scores: a query sees the keys up to its own position): a tile of rows stops at
    /// its last row's column, so entries above the diagonal hold garbage.
    /// </summary>
    LowerColumns,
    /// <summary>A[i, p] is zero for p &gt; i, so row i sums over p ≤ i only (probabilities × values).</summary>
    SumUpToRow,
    /// <summary>A[i, p] is zero for p &lt; i, so row i sums over p ≥ i only (transposed probabilities × …).</summary>
    SumFromRow,
}

/// <summary>
/// The operands of C (m × n) = A (m × k) · B (k × n), or C += A · B. A is read through two strides, so the same
/// kernel takes A or Aᵀ: A[i, p] = A[i · ARow + p · ACol]. B and C are row-major: B[p, j] = B[p · BRow + j],
/// C[i, j] = C[i · CRow + j].
/// </summary>
internal readonly unsafe struct GemmOperands(
    int m, int n, int k,
    float* a, long aRow, long aCol,
    float* b, long bRow,
    float* c, long cRow,
    bool accumulate, Triangle triangle = Triangle.None)
{
    public readonly int M = m, N = n, K = k;
    public readonly float* A = a, B = b, C = c;
    public readonly long ARow = aRow, ACol = aCol, BRow = bRow, CRow = cRow;
    public readonly bool Accumulate = accumulate;
    public readonly Triangle Triangle = triangle;
}

/// <summary>
/// The trainer's matrix product, in outer-product form: a tile of 6 rows of C × 4 vectors of columns sits in 24
/// registers while the sum runs over p, each step loading 4 vectors of B's row p and broadcasting 6 elements of A's
/// column p. There is no horizontal sum, so short sums (a head's 32 dimensions, a model's 128) cost nothing extra,
/// and the one kernel serves all three products of a linear layer: y = x · Wᵀ (B = Wᵀ), dx = dy · W (B = W) and
/// dW += dyᵀ · x (A = dyᵀ through its strides, B = x).
/// <para>
/// Determinism: every element of C is one chain of fused multiply-adds over p in order, started from zero or from
/// C's value (<see cref="GemmOperands.Accumulate"/>), whatever the vector width's tail handling, the tiling or the
/// number of threads; each tile belongs to one thread. So a run gives the same bits on 1 or 2 threads, and a sum
/// split into consecutive calls with Accumulate gives the bits of one call.
/// </para>
/// </summary>
[SkipLocalsInit]
internal static unsafe class Gemm
{
    /// <summary>Rows of C per tile.</summary>
    public const int Rows = 6;

    // A long sum (a weight gradient's, over every token of the batch) runs in blocks of this many terms: each block's
    // rows of A and B (256 tokens of dy and x, a few hundred KiB) stay in L2 while every tile of the thread's share of C
    // takes its part of the sum, instead of each tile streaming all the tokens from L3. C holds the partial sums between
    // blocks, so the chain of fused multiply-adds, and the result, is the same.
    const int SumBlock = 256;

    /// <summary>Splits the row tiles across the kernel threads.</summary>
    public static void Run(in GemmOperands o) => Run(o, Simd.Width);

    /// <summary>On the calling thread only (inside a job that is already split across the threads).</summary>
    public static void RunSerial(in GemmOperands o) => RunSerial(o, Simd.Width);

    /// <summary>At a given vector width (16, 8, 4 or 1), so that tests can check every rung of the ladder.</summary>
    internal static void Run(in GemmOperands o, int width)
    {
        if (o.M <= 0 || o.N <= 0) return;
        if (o.N >= 4 * Panel && o.Triangle == Triangle.None)
        {
            var panels = new PanelJob(o, width);
            Workers.For((o.N + Panel - 1) / Panel, ref panels);
            return;
        }
        var job = new Job(o, width);
        Workers.For(RowTiles(o.M), ref job);
    }

    internal static void RunSerial(in GemmOperands o, int width)
    {
        if (o.M <= 0 || o.N <= 0) return;
        for (int t = 0, tiles = RowTiles(o.M); t < tiles; t++) RowTile(o, t * Rows, width);
    }

    static int RowTiles(int m) => (m + Rows - 1) / Rows;

    // A wide product (the classifier's logits: tens of thousands of columns) runs a panel of 256 columns at a time
    // through every row, the threads taking panels: the panel's rows of B (k × 256 floats) stay in L2 while all the
    // rows of A pass, and B is read once. Row tiles over all the columns would read the whole of B (tens of MiB, its
    // rows a vocabulary apart) again for every 6 rows.
    const int Panel = 256;

    readonly struct PanelJob(GemmOperands o, int width) : IRowJob
    {
        public long CostPerRow => (long)o.M * Panel * Math.Max(1, o.K);

        public void Run(int start, int end)
        {
            for (int panel = start; panel < end; panel++)
            {
                int j0 = panel * Panel, j1 = Math.Min(o.N, j0 + Panel);
                for (int i0 = 0; i0 < o.M; i0 += Rows) RowTile(o, i0, width, j0, j1);
            }
        }
    }

    readonly struct Job(GemmOperands o, int width) : IRowJob
    {
        public long CostPerRow => (long)Rows * o.N * Math.Max(1, o.K);

        public void Run(int start, int end)
        {
            if (o.K <= 2 * SumBlock || o.Triangle != Triangle.None)
            {
                for (int t = start; t < end; t++) RowTile(o, t * Rows, width);
                return;
            }
            for (int p0 = 0; p0 < o.K; p0 += SumBlock)
            {
                int p1 = Math.Min(o.K, p0 + SumBlock);
                var block = new GemmOperands(o.M, o.N, p1 - p0, o.A + p0 * o.ACol, o.ARow, o.ACol, o.B + p0 * o.BRow, o.BRow, o.C, o.CRow,
                    accumulate: o.Accumulate || p0 > 0);
                for (int t = start; t < end; t++) RowTile(block, t * Rows, width);
            }
        }
    }

    static void RowTile(in GemmOperands o, int i0, int width, int j0 = 0, int j1 = int.MaxValue)
    {
        switch (width)
        {
            case 16: RowTile<Vector512<float>, Ops512>(o, i0, j0, j1); break;
            case 8: RowTile<Vector256<float>, Ops256>(o, i0, j0, j1); break;
            case 4: RowTile<Vector128<float>, Ops128>(o, i0, j0, j1); break;
            default: RowTile<float, OpsScalar>(o, i0, j0, j1); break;
        }
    }

    /// <summary>Rows [i0, i0 + 6) and columns [j0, min(j1, n)) of C.</summary>
    static void RowTile<TVec, TOps>(in GemmOperands o, int i0, int j0, int j1) where TVec : struct where TOps : struct, IVectorOps<TVec>
    {
        int rows = Math.Min(Rows, o.M - i0), n = Math.Min(o.N, j1), p0 = 0, p1 = o.K;
        switch (o.Triangle)
        {
            // Whole vectors up to the tile's last row: the few columns past the diagonal cost less than a scalar tail.
            case Triangle.LowerColumns: n = Math.Min(n, (i0 + rows + TOps.Width - 1) / TOps.Width * TOps.Width); break;
            case Triangle.SumUpToRow: p1 = Math.Min(p1, i0 + rows); break;
            case Triangle.SumFromRow: p0 = Math.Min(p1, i0); break;
        }
        var tile = new TileArgs(o.A + i0 * o.ARow, o.ARow, o.ACol, o.B, o.BRow, o.C + i0 * o.CRow, o.CRow, rows, p0, p1, o.Accumulate);
        int j = Columns<TVec, TOps>(tile, j0, n);
        if (j < n) Columns<float, OpsScalar>(tile, j, n);
    }

    /// <summary>A tile's rows of A and C and its range of p; the columns are given per call.</summary>
    readonly struct TileArgs(float* a, long aRow, long aCol, float* b, long bRow, float* c, long cRow, int rows, int p0, int p1, bool accumulate)
    {
        public readonly float* A = a, B = b, C = c;
        public readonly long ARow = aRow, ACol = aCol, BRow = bRow, CRow = cRow;
        public readonly int Rows = rows, P0 = p0, P1 = p1;
        public readonly bool Accumulate = accumulate;
    }

    /// <summary>Columns [j, n) in strips of 4 vectors, then one strip of the 1–3 whole vectors left; returns where it stopped.</summary>
    static int Columns<TVec, TOps>(in TileArgs t, int j, int n) where TVec : struct where TOps : struct, IVectorOps<TVec>
    {
        int w = TOps.Width;
        for (; j + 4 * w <= n; j += 4 * w) Tile<TVec, TOps, Four>(t, j);
        switch ((n - j) / w)
        {
            case 3: Tile<TVec, TOps, Three>(t, j); return j + 3 * w;
            case 2: Tile<TVec, TOps, Two>(t, j); return j + 2 * w;
            case 1: Tile<TVec, TOps, One>(t, j); return j + w;
            default: return j;
        }
    }

    static void Tile<TVec, TOps, TCols>(in TileArgs t, int j)
        where TVec : struct where TOps : struct, IVectorOps<TVec> where TCols : struct, IColumnCount
    {
        if (t.Rows == Rows)
        {
            Tile6<TVec, TOps, TCols>(t.A, t.ARow, t.ACol, t.B + j, t.BRow, t.C + j, t.CRow, t.P0, t.P1, t.Accumulate);
            return;
        }
        for (int r = 0; r < t.Rows; r++)
            Tile1<TVec, TOps, TCols>(t.A + r * t.ARow, t.ACol, t.B + j, t.BRow, t.C + r * t.CRow + j, t.P0, t.P1, t.Accumulate);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static TVec Start<TVec, TOps>(float* c, bool accumulate) where TVec : struct where TOps : struct, IVectorOps<TVec> =>
        accumulate ? TOps.Load(c) : TOps.Zero;

    /// <summary>6 rows × TCols vectors: the micro-kernel, its accumulators in registers over the whole sum.</summary>
    static void Tile6<TVec, TOps, TCols>(float* a, long aRow, long aCol, float* b, long bRow, float* c, long cRow, int p0, int p1, bool accumulate)
        where TVec : struct where TOps : struct, IVectorOps<TVec> where TCols : struct, IColumnCount
    {
        int w = TOps.Width, cols = TCols.Count;
        float* c0 = c, c1 = c + cRow, c2 = c + 2 * cRow, c3 = c + 3 * cRow, c4 = c + 4 * cRow, c5 = c + 5 * cRow;
        TVec s00 = Start<TVec, TOps>(c0, accumulate), s10 = Start<TVec, TOps>(c1, accumulate), s20 = Start<TVec, TOps>(c2, accumulate);
        TVec s30 = Start<TVec, TOps>(c3, accumulate), s40 = Start<TVec, TOps>(c4, accumulate), s50 = Start<TVec, TOps>(c5, accumulate);
        TVec s01 = TOps.Zero, s11 = TOps.Zero, s21 = TOps.Zero, s31 = TOps.Zero, s41 = TOps.Zero, s51 = TOps.Zero;
        TVec s02 = TOps.Zero, s12 = TOps.Zero, s22 = TOps.Zero, s32 = TOps.Zero, s42 = TOps.Zero, s52 = TOps.Zero;
        TVec s03 = TOps.Zero, s13 = TOps.Zero, s23 = TOps.Zero, s33 = TOps.Zero, s43 = TOps.Zero, s53 = TOps.Zero;
        if (cols > 1)
        {
            s01 = Start<TVec, TOps>(c0 + w, accumulate); s11 = Start<TVec, TOps>(c1 + w, accumulate); s21 = Start<TVec, TOps>(c2 + w, accumulate);
            s31 = Start<TVec, TOps>(c3 + w, accumulate); s41 = Start<TVec, TOps>(c4 + w, accumulate); s51 = Start<TVec, TOps>(c5 + w, accumulate);
        }
        if (cols > 2)
        {
            s02 = Start<TVec, TOps>(c0 + 2 * w, accumulate); s12 = Start<TVec, TOps>(c1 + 2 * w, accumulate); s22 = Start<TVec, TOps>(c2 + 2 * w, accumulate);
            s32 = Start<TVec, TOps>(c3 + 2 * w, accumulate); s42 = Start<TVec, TOps>(c4 + 2 * w, accumulate); s52 = Start<TVec, TOps>(c5 + 2 * w, accumulate);
        }
        if (cols > 3)
        {
            s03 = Start<TVec, TOps>(c0 + 3 * w, accumulate); s13 = Start<TVec, TOps>(c1 + 3 * w, accumulate); s23 = Start<TVec, TOps>(c2 + 3 * w, accumulate);
            s33 = Start<TVec, TOps>(c3 + 3 * w, accumulate); s43 = Start<TVec, TOps>(c4 + 3 * w, accumulate); s53 = Start<TVec, TOps>(c5 + 3 * w, accumulate);
        }

        float* a0 = a, a1 = a + aRow, a2 = a + 2 * aRow, a3 = a + 3 * aRow, a4 = a + 4 * aRow, a5 = a + 5 * aRow;
        float* bp = b + p0 * bRow;
        for (long p = p0 * aCol, end = p1 * aCol; p != end; p += aCol, bp += bRow)
        {
            TVec b0 = TOps.Load(bp);
            TVec b1 = cols > 1 ? TOps.Load(bp + w) : TOps.Zero;
            TVec b2 = cols > 2 ? TOps.Load(bp + 2 * w) : TOps.Zero;
            TVec b3 = cols > 3 ? TOps.Load(bp + 3 * w) : TOps.Zero;
            TVec x = TOps.Broadcast(a0[p]);
            s00 = TOps.Fma(x, b0, s00);
            if (cols > 1) s01 = TOps.Fma(x, b1, s01);
            if (cols > 2) s02 = TOps.Fma(x, b2, s02);
            if (cols > 3) s03 = TOps.Fma(x, b3, s03);
            x = TOps.Broadcast(a1[p]);
            s10 = TOps.Fma(x, b0, s10);
            if (cols > 1) s11 = TOps.Fma(x, b1, s11);
            if (cols > 2) s12 = TOps.Fma(x, b2, s12);
            if (cols > 3) s13 = TOps.Fma(x, b3, s13);
            x = TOps.Broadcast(a2[p]);
            s20 = TOps.Fma(x, b0, s20);
            if (cols > 1) s21 = TOps.Fma(x, b1, s21);
            if (cols > 2) s22 = TOps.Fma(x, b2, s22);
            if (cols > 3) s23 = TOps.Fma(x, b3, s23);
            x = TOps.Broadcast(a3[p]);
            s30 = TOps.Fma(x, b0, s30);
            if (cols > 1) s31 = TOps.Fma(x, b1, s31);
            if (cols > 2) s32 = TOps.Fma(x, b2, s32);
            if (cols > 3) s33 = TOps.Fma(x, b3, s33);
            x = TOps.Broadcast(a4[p]);
            s40 = TOps.Fma(x, b0, s40);
            if (cols > 1) s41 = TOps.Fma(x, b1, s41);
            if (cols > 2) s42 = TOps.Fma(x, b2, s42);
            if (cols > 3) s43 = TOps.Fma(x, b3, s43);
            x = TOps.Broadcast(a5[p]);
            s50 = TOps.Fma(x, b0, s50);
            if (cols > 1) s51 = TOps.Fma(x, b1, s51);
            if (cols > 2) s52 = TOps.Fma(x, b2, s52);
            if (cols > 3) s53 = TOps.Fma(x, b3, s53);
        }

        TOps.Store(c0, s00); TOps.Store(c1, s10); TOps.Store(c2, s20); TOps.Store(c3, s30); TOps.Store(c4, s40); TOps.Store(c5, s50);
        if (cols > 1)
        {
            TOps.Store(c0 + w, s01); TOps.Store(c1 + w, s11); TOps.Store(c2 + w, s21);
            TOps.Store(c3 + w, s31); TOps.Store(c4 + w, s41); TOps.Store(c5 + w, s51);
        }
        if (cols > 2)
        {
            TOps.Store(c0 + 2 * w, s02); TOps.Store(c1 + 2 * w, s12); TOps.Store(c2 + 2 * w, s22);
            TOps.Store(c3 + 2 * w, s32); TOps.Store(c4 + 2 * w, s42); TOps.Store(c5 + 2 * w, s52);
        }
        if (cols > 3)
        {
            TOps.Store(c0 + 3 * w, s03); TOps.Store(c1 + 3 * w, s13); TOps.Store(c2 + 3 * w, s23);
            TOps.Store(c3 + 3 * w, s33); TOps.Store(c4 + 3 * w, s43); TOps.Store(c5 + 3 * w, s53);
        }
    }

    /// <summary>One row × TCols vectors, for a tile's leftover rows: the same chain per element as <see cref="Tile6"/>.</summary>
    static void Tile1<TVec, TOps, TCols>(float* a, long aCol, float* b, long bRow, float* c, int p0, int p1, bool accumulate)
        where TVec : struct where TOps : struct, IVectorOps<TVec> where TCols : struct, IColumnCount
    {
        int w = TOps.Width, cols = TCols.Count;
        TVec s0 = Start<TVec, TOps>(c, accumulate);
        TVec s1 = cols > 1 ? Start<TVec, TOps>(c + w, accumulate) : TOps.Zero;
        TVec s2 = cols > 2 ? Start<TVec, TOps>(c + 2 * w, accumulate) : TOps.Zero;
        TVec s3 = cols > 3 ? Start<TVec, TOps>(c + 3 * w, accumulate) : TOps.Zero;
        float* bp = b + p0 * bRow;
        for (long p = p0 * aCol, end = p1 * aCol; p != end; p += aCol, bp += bRow)
        {
            TVec x = TOps.Broadcast(a[p]);
            s0 = TOps.Fma(x, TOps.Load(bp), s0);
            if (cols > 1) s1 = TOps.Fma(x, TOps.Load(bp + w), s1);
            if (cols > 2) s2 = TOps.Fma(x, TOps.Load(bp + 2 * w), s2);
            if (cols > 3) s3 = TOps.Fma(x, TOps.Load(bp + 3 * w), s3);
        }
        TOps.Store(c, s0);
        if (cols > 1) TOps.Store(c + w, s1);
        if (cols > 2) TOps.Store(c + 2 * w, s2);
        if (cols > 3) TOps.Store(c + 3 * w, s3);
    }

    interface IColumnCount
    {
        static abstract int Count { get; }
    }

    struct One : IColumnCount { public static int Count => 1; }
    struct Two : IColumnCount { public static int Count => 2; }
    struct Three : IColumnCount { public static int Count => 3; }
    struct Four : IColumnCount { public static int Count => 4; }
}

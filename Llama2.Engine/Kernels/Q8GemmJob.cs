using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Llama2.Engine.Kernels;

/// <summary>One int8 weight matrix (and W3 beside W1 for SwiGLU) and where its outputs go (tokens × rows).</summary>
internal readonly unsafe struct Q8Projection(WeightMatrix w, WeightMatrix w3, float* output)
{
    public readonly WeightMatrix W = w, W3 = w3;
    public readonly float* Out = output;
    public int Rows => W.Rows;
    public int Blocks => (W.Rows + Q8GemmJob.RowBlock - 1) / Q8GemmJob.RowBlock;
}

/// <summary>
/// One int8 matmul dispatch: up to three Q8_0 projections of the same quantized activations (tokens × n,
/// <see cref="QuantizedActivations"/>). The unit of work is a block of 64 weight rows, numbered across the projections;
/// <see cref="Workers"/> hands out chunks of blocks, as for <see cref="GemmJob"/>.
/// <list type="bullet">
/// <item>One token (decoding, bound by reading the weights): each thread takes one contiguous share and reads its rows
/// front to back, each one dot product (<see cref="Q8Tiles.Row{TInt, TFloat, TOps}"/>); the int8 values and the scales
/// are two separate sequential streams. With AVX-512 up to three tokens go the same way, each row against every token
/// while its values are in registers.</item>
/// <item>More tokens: each block is packed a panel of columns at a time, and tiles of up to 6 tokens go over one or four
/// packed sub-blocks of rows at once (<see cref="Q8Tiles.Tile{TInt, TFloat, TOps, TTokens, TBlocks}"/>).</item>
/// </list>
/// </summary>
[SkipLocalsInit]
internal readonly unsafe struct Q8GemmJob : IRowJob
{
    public const int RowBlock = 64;
    // As GemmJob: up to this many tokens a pass is bound by reading the weights.
    const int StreamingTokens = 8;
    // Up to this many tokens with AVX-512 the rows are read as decoding reads them (Decode), not packed: a row kernel sums
    // each group of each token across lanes, which costs more per multiply-add than the tiles once packing is shared by
    // four tokens or more (measured: ×1.1 faster for 2–3 tokens, ×0.75 for 8).
    const int RowTokens = 3;
    // Columns packed at a time (a multiple of the group size): four blocks of up to 16 rows × 256 columns × 2 bytes
    // = 32 KiB, which stay in L1 while the tiles of tokens go over them.
    const int PanelColumns = 256;
    // Packed blocks a tile runs at once: four where AVX-512 gives 32 registers (24 accumulators), one otherwise.
    static readonly int BlocksAtOnce = Avx512F.IsSupported ? 4 : 1;
    // Tokens whose running sums a block keeps at a time (RowBlock floats each).
    const int TokenChunk = 128;

    readonly int _width, _n, _tokens, _groupSize;
    readonly Epilogue _mode;
    readonly short* _x;
    readonly float* _xs;
    readonly Q8Projection _p0, _p1, _p2;

    /// <param name="width">Lanes per vector (<see cref="Q8Simd.Dispatch"/>); 1 = runq.c's scalar loop.</param>
    public Q8GemmJob(int width, Epilogue mode, QuantizedActivations x, Q8Projection p0, Q8Projection p1, Q8Projection p2)
    {
        _width = width;
        _mode = mode;
        _x = x.Values;
        _xs = x.Scales;
        _n = x.Columns;
        _tokens = x.Tokens;
        _groupSize = x.GroupSize;
        _p0 = p0;
        _p1 = p1;
        _p2 = p2;
    }

    public int Blocks => _p0.Blocks + _p1.Blocks + _p2.Blocks;
    public long CostPerRow => (long)RowBlock * _n * _tokens * (_mode == Epilogue.SwiGlu ? 2 : 1);
    public bool StreamsWeights => _tokens <= StreamingTokens;

    public void Run(int start, int end)
    {
        var chunk = new Chunk(this, start, end);
        Q8Simd.Dispatch(_width, ref chunk);
    }

    readonly struct Chunk(Q8GemmJob job, int start, int end) : IQ8WidthKernel
    {
        public void Run<TInt, TFloat, TOps>() where TInt : struct where TFloat : struct where TOps : struct, IQ8Ops<TInt, TFloat>
        {
            if (job.ReadsRows(TOps.Lanes)) job.Decode<TInt, TFloat, TOps>(start, end);
            else job.Batch<TInt, TFloat, TOps>(start, end);
        }

        public void RunScalar() => job.Scalar(start, end);
    }

    /// <summary>
    /// Whether the pass reads the weight rows as decoding does (<see cref="Decode"/>) rather than packing them for tiles:
    /// one token, or with AVX-512 up to <see cref="RowTokens"/> tokens whose terms of a block of rows fit the stack.
    /// </summary>
    bool ReadsRows(int lanes) => _tokens == 1 ||
        (_tokens <= RowTokens && lanes == 16 && Avx512F.IsSupported && (long)_tokens * 16 * (_n / _groupSize) <= MaxRowTerms);

    // Floats of terms Decode keeps on the stack for a few tokens (128 KiB).
    const int MaxRowTerms = 32 * 1024;

    /// <summary>The part of the chunk [start, end) in projection i: its first block there and how many (0 or less: none).</summary>
    (Q8Projection P, int From, int Blocks) Part(int i, int start, int end)
    {
        var p = i == 0 ? _p0 : i == 1 ? _p1 : _p2;
        int offset = i == 0 ? 0 : i == 1 ? _p0.Blocks : _p0.Blocks + _p1.Blocks;
        int from = Math.Max(start, offset);
        return (p, from - offset, Math.Min(end, offset + p.Blocks) - from);
    }

    /// <summary>
    /// Decoding, and with AVX-512 a few tokens (<see cref="ReadsRows"/>): the chunk's rows of each projection one after
    /// another, read front to back, a vector of rows (lanes) at a time, each row against every token; for SwiGLU each
    /// vector's W1 rows, then its W3 rows.
    /// </summary>
    void Decode<TInt, TFloat, TOps>(int start, int end) where TInt : struct where TFloat : struct where TOps : struct, IQ8Ops<TInt, TFloat>
    {
        int n = _n, gs = _groupSize, groups = n / gs, lanes = TOps.Lanes, tokens = _tokens;
        bool runs = lanes == 16 && Avx512F.IsSupported; // BlockTerms512: a block's groups as one run, rows G terms apart
        int stride = runs ? groups : (groups + lanes - 1) / lanes * lanes;
        int termsStride = lanes * stride + lanes; // SumRows' last square may read past the last row
        int* scratch = stackalloc int[tokens == 1 ? lanes * lanes : tokens * 256];
        float* terms = stackalloc float[tokens * termsStride];
        float* square = stackalloc float[lanes * lanes];
        float* sums = stackalloc float[tokens * lanes];
        int* xOffsets = stackalloc int[groups + 16];
        float* xsRepeated = stackalloc float[tokens * (groups + 16)];
        for (int g = 0; g < groups + 16; g++)
        {
            xOffsets[g] = g % groups * gs;
            for (int t = 0; t < tokens; t++) xsRepeated[t * (groups + 16) + g] = _xs[t * groups + g % groups];
        }
        var at = new RowsCall(terms, termsStride, stride, scratch, square, sums, runs, xOffsets, xsRepeated);
        for (int i = 0; i < 3; i++)
        {
            var (p, from, blocks) = Part(i, start, end);
            if (blocks <= 0) continue;
            int r1 = Math.Min((from + blocks) * RowBlock, p.Rows);
            for (int r0 = from * RowBlock; r0 < r1; r0 += lanes)
            {
                int rows = Math.Min(lanes, r1 - r0);
                Sums<TInt, TFloat, TOps>(p.W, r0, rows, at);
                if (_mode == Epilogue.SwiGlu)
                {
                    for (int t = 0; t < tokens; t++)
                        new Span<float>(sums + t * lanes, rows).CopyTo(new Span<float>(p.Out + (long)t * p.Rows + r0, rows));
                    Sums<TInt, TFloat, TOps>(p.W3, r0, rows, at);
                }
                for (int t = 0; t < tokens; t++)
                {
                    float* o = p.Out + (long)t * p.Rows + r0;
                    Finish(o, _mode == Epilogue.SwiGlu ? o : sums + t * lanes, sums + t * lanes, rows);
                }
            }
        }
    }

    /// <summary>The scratch space of <see cref="Decode"/>.</summary>
    readonly struct RowsCall(float* terms, int termsStride, int stride, int* scratch, float* square, float* sums, bool runs,
        int* xOffsets, float* xsRepeated)
    {
        public readonly float* Terms = terms, Square = square, Sums = sums, XsRepeated = xsRepeated;
        public readonly int TermsStride = termsStride, Stride = stride;
        public readonly int* Scratch = scratch, XOffsets = xOffsets;
        public readonly bool Runs = runs;
    }

    /// <summary>sums[t · lanes + r] = row r0 + r of W against token t, for rows ≤ lanes rows.</summary>
    void Sums<TInt, TFloat, TOps>(WeightMatrix w, int r0, int rows, in RowsCall at)
        where TInt : struct where TFloat : struct where TOps : struct, IQ8Ops<TInt, TFloat>
    {
        int n = _n, gs = _groupSize, groups = n / gs, lanes = TOps.Lanes, stride = at.Stride;
        if (at.Runs)
        {
            sbyte* wr = w.Q8Values + (long)r0 * n;
            float* ws = w.Q8Scales + (long)r0 * groups;
            int xsStride = groups + 16;
            switch (_tokens)
            {
                case 1: Q8Tiles.BlockTerms512<Count1>(wr, ws, rows, groups, gs, _x, n, at.XOffsets, at.XsRepeated, xsStride, at.Terms, at.TermsStride, at.Scratch); break;
                case 2: Q8Tiles.BlockTerms512<Count2>(wr, ws, rows, groups, gs, _x, n, at.XOffsets, at.XsRepeated, xsStride, at.Terms, at.TermsStride, at.Scratch); break;
                case 3: Q8Tiles.BlockTerms512<Count3>(wr, ws, rows, groups, gs, _x, n, at.XOffsets, at.XsRepeated, xsStride, at.Terms, at.TermsStride, at.Scratch); break;
                case 4: Q8Tiles.BlockTerms512<Count4>(wr, ws, rows, groups, gs, _x, n, at.XOffsets, at.XsRepeated, xsStride, at.Terms, at.TermsStride, at.Scratch); break;
                case 5: Q8Tiles.BlockTerms512<Count5>(wr, ws, rows, groups, gs, _x, n, at.XOffsets, at.XsRepeated, xsStride, at.Terms, at.TermsStride, at.Scratch); break;
                case 6: Q8Tiles.BlockTerms512<Count6>(wr, ws, rows, groups, gs, _x, n, at.XOffsets, at.XsRepeated, xsStride, at.Terms, at.TermsStride, at.Scratch); break;
                case 7: Q8Tiles.BlockTerms512<Count7>(wr, ws, rows, groups, gs, _x, n, at.XOffsets, at.XsRepeated, xsStride, at.Terms, at.TermsStride, at.Scratch); break;
                default: Q8Tiles.BlockTerms512<Count8>(wr, ws, rows, groups, gs, _x, n, at.XOffsets, at.XsRepeated, xsStride, at.Terms, at.TermsStride, at.Scratch); break;
            }
        }
        else for (int r = 0; r < rows; r++)
            Q8Tiles.RowTerms<TInt, TFloat, TOps>(w.Q8Values + (long)(r0 + r) * n, w.Q8Scales + (long)(r0 + r) * groups, _x, _xs, n, gs,
                at.Scratch, at.Terms + r * stride);
        for (int t = 0; t < _tokens; t++)
        {
            float* terms = at.Terms + t * at.TermsStride;
            if (rows < lanes) new Span<float>(terms + rows * stride, (lanes - rows) * stride).Clear();
            TOps.StoreFloat(at.Sums + t * lanes, Q8Tiles.SumRows<TInt, TFloat, TOps>(terms, stride, groups, at.Square));
        }
    }

    /// <summary>runq.c's loop, for every token and row of the chunk.</summary>
    void Scalar(int start, int end)
    {
        int n = _n, gs = _groupSize, groups = n / gs;
        for (int i = 0; i < 3; i++)
        {
            var (p, from, blocks) = Part(i, start, end);
            if (blocks <= 0) continue;
            int r0 = from * RowBlock, r1 = Math.Min((from + blocks) * RowBlock, p.Rows);
            for (int t = 0; t < _tokens; t++)
            {
                short* x = _x + (long)t * n;
                float* xs = _xs + (long)t * groups, o = p.Out + (long)t * p.Rows;
                for (int r = r0; r < r1; r++)
                {
                    float val = Q8Tiles.ScalarRow(p.W.Q8Values + (long)r * n, p.W.Q8Scales + (long)r * groups, x, xs, n, gs);
                    o[r] = _mode switch
                    {
                        Epilogue.Store => val,
                        Epilogue.Add => o[r] + val,
                        _ => Ops.Silu(val) * Q8Tiles.ScalarRow(p.W3.Q8Values + (long)r * n, p.W3.Q8Scales + (long)r * groups, x, xs, n, gs),
                    };
                }
            }
        }
    }

    /// <summary>A batch: each block of the chunk, for its tokens a chunk at a time, then its outputs through the epilogue.</summary>
    void Batch<TInt, TFloat, TOps>(int start, int end) where TInt : struct where TFloat : struct where TOps : struct, IQ8Ops<TInt, TFloat>
    {
        float* res = stackalloc float[TokenChunk * RowBlock];
        float* res3 = stackalloc float[TokenChunk * RowBlock];
        int panelColumns = Math.Max(_groupSize, PanelColumns / _groupSize * _groupSize);
        int* packed = stackalloc int[4 * 16 * panelColumns / 2];
        float* packedScales = stackalloc float[4 * 16 * (panelColumns / _groupSize)];
        for (int i = 0; i < 3; i++)
        {
            var (p, from, blocks) = Part(i, start, end);
            for (int block = from; block < from + blocks; block++)
            {
                int row0 = block * RowBlock, rows = Math.Min(RowBlock, p.Rows - row0);
                for (int t0 = 0; t0 < _tokens; t0 += TokenChunk)
                {
                    int tokens = Math.Min(TokenChunk, _tokens - t0);
                    // The block read after this one: W3's rows beside W1's, else the next block of rows.
                    bool swiGlu = _mode == Epilogue.SwiGlu;
                    Block<TInt, TFloat, TOps>(p.W, row0, rows, t0, tokens, res, packed, packedScales, panelColumns,
                        swiGlu ? p.W3 : p.W, swiGlu ? row0 : row0 + RowBlock);
                    if (swiGlu) Block<TInt, TFloat, TOps>(p.W3, row0, rows, t0, tokens, res3, packed, packedScales, panelColumns, p.W, row0 + RowBlock);
                    for (int t = 0; t < tokens; t++)
                        Finish(p.Out + (long)(t0 + t) * p.Rows + row0, res + t * RowBlock, res3 + t * RowBlock, rows);
                }
            }
        }
    }

    /// <summary>A token's outputs of a block through the epilogue, four at a time where they can be.</summary>
    void Finish(float* o, float* res, float* res3, int rows)
    {
        int r = 0;
        if (_mode != Epilogue.SwiGlu || Exp.IsVectorized)
        {
            // silu with glibc's expf vectorized: the same bits as one at a time.
            for (; r <= rows - 4; r += 4)
            {
                var v = Vector128.Load(res + r);
                switch (_mode)
                {
                    case Epilogue.Store: v.Store(o + r); break;
                    case Epilogue.Add: (Vector128.Load(o + r) + v).Store(o + r); break;
                    default: (Ops.Silu(v) * Vector128.Load(res3 + r)).Store(o + r); break;
                }
            }
        }
        for (; r < rows; r++)
        {
            switch (_mode)
            {
                case Epilogue.Store: o[r] = res[r]; break;
                case Epilogue.Add: o[r] += res[r]; break;
                default: o[r] = Ops.Silu(res[r]) * res3[r]; break;
            }
        }
    }

    /// <summary>res[t · RowBlock + r] = row0 + r of W against token t0 + t, for RowBlock rows (those past the matrix give 0).</summary>
    void Block<TInt, TFloat, TOps>(WeightMatrix w, int row0, int rows, int t0, int tokens, float* res,
        int* packed, float* packedScales, int panelColumns, WeightMatrix next, int nextRow0)
        where TInt : struct where TFloat : struct where TOps : struct, IQ8Ops<TInt, TFloat>
    {
        int n = _n, gs = _groupSize, groups = n / gs, lanes = TOps.Lanes;
        int blocksAtOnce = BlocksAtOnce;
        int blockStride = lanes * (panelColumns / 2), scalesStride = lanes * (panelColumns / gs);
        new Span<float>(res, tokens * RowBlock).Clear();
        for (int k0 = 0; k0 < n; k0 += panelColumns)
        {
            int columns = Math.Min(panelColumns, n - k0), panelGroups = columns / gs;
            for (int sub = 0; sub < RowBlock; sub += blocksAtOnce * lanes)
            {
                for (int b = 0; b < blocksAtOnce; b++)
                {
                    int first = sub + b * lanes, blockRows = Math.Clamp(rows - first, 0, lanes);
                    int row = row0 + Math.Min(first, Math.Max(rows - 1, 0)); // within the matrix even for an empty block
                    Q8Tiles.Pack<TInt, TFloat, TOps>(w.Q8Values + (long)row * n, w.Q8Scales + (long)row * groups, blockRows, n, gs,
                        k0, columns / 2, packed + b * blockStride, packedScales + b * scalesStride);
                }
                if (sub == 0 && StreamsWeights) PrefetchPanel(w, row0, rows, k0 + panelColumns, n, next, nextRow0);
                short* x = _x + (long)t0 * n + k0;
                float* xs = _xs + (long)t0 * groups + k0 / gs;
                var tile = new TileCall<TInt, TFloat, TOps>(packed, blockStride, packedScales, scalesStride, panelGroups, gs, n, groups, x, xs, res + sub);
                int t = 0;
                if (blocksAtOnce == 4)
                {
                    for (; t <= tokens - 6; t += 6) tile.Run<Count6, Count4>(t);
                    if (tokens - t >= 4) { tile.Run<Count4, Count4>(t); t += 4; }
                    if (tokens - t >= 2) { tile.Run<Count2, Count4>(t); t += 2; }
                    if (t < tokens) tile.Run<Count1, Count4>(t);
                }
                else
                {
                    for (; t <= tokens - 6; t += 6) tile.Run<Count6, Count1>(t);
                    if (tokens - t >= 4) { tile.Run<Count4, Count1>(t); t += 4; }
                    if (tokens - t >= 2) { tile.Run<Count2, Count1>(t); t += 2; }
                    if (t < tokens) tile.Run<Count1, Count1>(t);
                }
            }
        }
    }

    /// <summary>
    /// A few tokens (bound by reading the weights): the block's rows of the next panel (columns k0 .. k0 + PanelColumns)
    /// into L2 while this panel's tiles run, so that packing it does not wait on memory with sixteen row streams at once;
    /// after the last panel, the first panel of the block read next (<paramref name="next"/>'s rows from
    /// <paramref name="nextRow0"/>).
    /// </summary>
    static void PrefetchPanel(WeightMatrix w, int row0, int rows, int k0, int n, WeightMatrix next, int nextRow0)
    {
        if (!Sse.IsSupported) return;
        if (k0 >= n)
        {
            w = next;
            row0 = nextRow0;
            rows = Math.Min(RowBlock, w.Rows - row0);
            k0 = 0;
        }
        int end = Math.Min(k0 + PanelColumns, n);
        for (int r = 0; r < rows; r++)
        {
            sbyte* row = w.Q8Values + (long)(row0 + r) * n;
            for (int k = k0; k < end; k += 64) Sse.Prefetch1(row + k);
        }
    }

    /// <summary>The arguments of a panel's tiles, which differ only in their first token.</summary>
    readonly struct TileCall<TInt, TFloat, TOps>(int* packed, int blockStride, float* packedScales, int scalesStride,
        int groups, int groupSize, int n, int scalesPerToken, short* x, float* xs, float* res)
        where TInt : struct where TFloat : struct where TOps : struct, IQ8Ops<TInt, TFloat>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Run<TTokens, TBlocks>(int t) where TTokens : struct, ITileCount where TBlocks : struct, ITileCount =>
            Q8Tiles.Tile<TInt, TFloat, TOps, TTokens, TBlocks>(packed, blockStride, packedScales, scalesStride, groups, groupSize,
                x + (long)t * n, n, xs + (long)t * scalesPerToken, scalesPerToken, res + t * RowBlock, RowBlock);
    }
}

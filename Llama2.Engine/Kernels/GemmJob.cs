using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using static Llama2.Engine.Kernels.Tiles;

namespace Llama2.Engine.Kernels;

/// <summary>What a matmul does with each output: stores it, adds it to the output (the residual stream), or
/// (SwiGLU) stores silu(W1 · x) ⊙ (W3 · x).</summary>
internal enum Epilogue { Store, Add, SwiGlu }

/// <summary>
/// One weight matrix (rows × n, each weight a <typeparamref name="TW"/>) and where its outputs go (tokens × rows); for
/// SwiGLU, W3 beside W1.
/// </summary>
internal readonly unsafe struct Projection<TW>(TW* w, TW* w3, int rows, float* output) where TW : unmanaged
{
    public readonly TW* W = w, W3 = w3;
    public readonly float* Out = output;
    public readonly int Rows = rows;
    public int Blocks => (Rows + RowBlock - 1) / RowBlock;
}

/// <summary>
/// One matmul dispatch: up to three projections of the same activations x (tokens × n). The unit of work is a block
/// of 4 weight rows, numbered across the projections one after another; <see cref="Workers"/> hands out chunks of
/// blocks to the threads.
/// <list type="bullet">
/// <item>One token (decoding, bound by reading the weights): each row is one dot product, a thread's rows streamed
/// front to back, and each thread takes one contiguous share (<see cref="StreamsWeights"/>).</item>
/// <item>More tokens: register tiles of 4 rows × up to 6 tokens (<see cref="Tiles"/>), which prefetch the next block
/// as the <see cref="PrefetchPlan"/> says, and for a prompt in panels of blocks.</item>
/// </list>
/// </summary>
[SkipLocalsInit]
internal readonly unsafe struct GemmJob<TW> : IRowJob where TW : unmanaged, IWeightElement<TW>
{
    // Up to this many tokens a pass is bound by reading the weights, and each thread reads one contiguous share of them.
    const int StreamingTokens = 8;
    // A prompt's matmul runs in panels of up to 16 blocks (64 weight rows): each tile of 6 tokens goes over the whole
    // panel before the next tile, so the tile's activations stay in L1 and the panel's rows are read from L2, rather
    // than the activations of every token streaming from L2 again for each block. A panel holds at most PanelBytes of
    // weights (L2 is 1 MiB per core here, 256 KiB–2 MiB elsewhere). Only for batches whose blocks prefetch the next
    // block whole into L2: a non-temporal prefetch does not keep a panel's rows in L2 for its next tile.
    const int MaxPanelBlocks = 16, PanelBytes = 512 * 1024;

    readonly int _width, _n, _tokens, _panelBlocks;
    readonly Epilogue _mode;
    readonly float* _x;
    readonly Projection<TW> _p0, _p1, _p2;
    readonly PrefetchPlan _prefetch;

    /// <param name="width">Floats per vector (<see cref="Simd.Dispatch"/>).</param>
    public GemmJob(int width, Epilogue mode, float* x, int n, int tokens, Projection<TW> p0, Projection<TW> p1, Projection<TW> p2)
    {
        _width = width;
        _mode = mode;
        _x = x;
        _n = n;
        _tokens = tokens;
        _p0 = p0;
        _p1 = p1;
        _p2 = p2;
        _prefetch = PrefetchPlan.For(tokens);
        _panelBlocks = !_prefetch.WholeBlockToL2 ? 1
            : Math.Clamp(PanelBytes / (RowBlock * n * sizeof(TW) * MatricesPerRow), 1, MaxPanelBlocks);
    }

    public int Blocks => _p0.Blocks + _p1.Blocks + _p2.Blocks;
    public long CostPerRow => (long)RowBlock * _n * _tokens * MatricesPerRow;

    /// <summary>Whether the pass is bound by reading the weights: then each thread takes one contiguous share.</summary>
    public bool StreamsWeights => _tokens <= StreamingTokens;

    int MatricesPerRow => _mode == Epilogue.SwiGlu ? 2 : 1;

    public void Run(int start, int end)
    {
        var chunk = new Chunk(this, start, end);
        Simd.Dispatch(_width, ref chunk);
    }

    readonly struct Chunk(GemmJob<TW> job, int start, int end) : IWidthKernel
    {
        public void Run<TVec, TOps>() where TVec : struct where TOps : struct, IVectorOps<TVec>
        {
            if (job._tokens == 1) job.Decode<TVec, TOps>(start, end);
            else job.Panels<TVec, TOps>(start, end);
        }
    }

    /// <summary>
    /// The part of the chunk of blocks [start, end) that falls in projection <paramref name="i"/>: its first block
    /// within that projection and how many (0 or less: none).
    /// </summary>
    (Projection<TW> P, int From, int Blocks) Part(int i, int start, int end)
    {
        var p = i == 0 ? _p0 : i == 1 ? _p1 : _p2;
        int offset = i == 0 ? 0 : i == 1 ? _p0.Blocks : _p0.Blocks + _p1.Blocks;
        int from = Math.Max(start, offset);
        return (p, from - offset, Math.Min(end, offset + p.Blocks) - from);
    }

    /// <summary>
    /// Decoding (one token): the chunk's rows of each projection one after another, each a single dot product, so
    /// that a thread reads its share of a matrix front to back as one stream, with nothing between two rows but
    /// the store. SwiGLU reads its W1 rows, then its W3 rows, rather than the two side by side.
    /// </summary>
    void Decode<TVec, TOps>(int start, int end) where TVec : struct where TOps : struct, IVectorOps<TVec>
    {
        for (int i = 0; i < 3; i++)
        {
            var (p, from, blocks) = Part(i, start, end);
            if (blocks > 0) DecodeRows<TVec, TOps>(p, from * RowBlock, Math.Min((from + blocks) * RowBlock, p.Rows));
        }
    }

    void DecodeRows<TVec, TOps>(in Projection<TW> p, int from, int to) where TVec : struct where TOps : struct, IVectorOps<TVec>
    {
        float* o = p.Out, x = _x;
        int n = _n;
        if (_mode == Epilogue.SwiGlu)
        {
            for (int r = from; r < to; r++) o[r] = Dot<TVec, TOps, TW>(p.W + (long)r * n, x, n);
            for (int r = from; r < to; r++) o[r] = Ops.Silu(o[r]) * Dot<TVec, TOps, TW>(p.W3 + (long)r * n, x, n);
        }
        else if (_mode == Epilogue.Add)
            for (int r = from; r < to; r++) o[r] += Dot<TVec, TOps, TW>(p.W + (long)r * n, x, n);
        else
            for (int r = from; r < to; r++) o[r] = Dot<TVec, TOps, TW>(p.W + (long)r * n, x, n);
    }

    /// <summary>A batch: the chunk's blocks of each projection in panels (one block at a time unless a prompt's).</summary>
    void Panels<TVec, TOps>(int start, int end) where TVec : struct where TOps : struct, IVectorOps<TVec>
    {
        for (int i = 0; i < 3; i++)
        {
            var (p, from, blocks) = Part(i, start, end);
            for (int b = 0; b < blocks; b += _panelBlocks)
                Panel<TVec, TOps>(p, from + b, Math.Min(_panelBlocks, blocks - b));
        }
    }

    /// <summary>Every tile of tokens over the panel's blocks, tile after tile, each output through the epilogue.</summary>
    void Panel<TVec, TOps>(in Projection<TW> p, int firstBlock, int blocks) where TVec : struct where TOps : struct, IVectorOps<TVec>
    {
        float* res = stackalloc float[RowBlock * TokenBlock];
        float* res3 = stackalloc float[RowBlock * TokenBlock];
        int n = _n, tokens = _tokens;
        var mode = _mode;
        for (int t0 = 0, tt, call = 0; t0 < tokens; t0 += tt, call += KernelCalls(tt))
        {
            tt = TileTokens(tokens - t0);
            float* xt = _x + (long)t0 * n;
            for (int block = firstBlock; block < firstBlock + blocks; block++)
            {
                int row0 = block * RowBlock, rows = Math.Min(RowBlock, p.Rows - row0);
                Tile<TVec, TOps, TW>(p.W + (long)row0 * n, rows, xt, tt, n, res, call, _prefetch);
                if (mode == Epilogue.SwiGlu) Tile<TVec, TOps, TW>(p.W3 + (long)row0 * n, rows, xt, tt, n, res3, call, _prefetch);
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

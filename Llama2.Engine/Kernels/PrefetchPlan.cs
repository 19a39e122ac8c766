using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace Llama2.Engine.Kernels;

/// <summary>
/// What one tile kernel call fetches of the next block of 4 weight rows while it sums its own block: nothing, some
/// of the rows (a flag each) non-temporally, or the whole block into L2.
/// </summary>
[Flags]
internal enum NextBlockPrefetch
{
    None = 0,
    Row0 = 1,
    Row1 = 2,
    Row2 = 4,
    Row3 = 8,
    /// <summary>All four rows, non-temporally.</summary>
    AllRows = Row0 | Row1 | Row2 | Row3,
    /// <summary>All four rows into L2 (not non-temporally): a prompt's block, see <see cref="PrefetchPlan"/>.</summary>
    WholeBlockToL2 = 16,
}

/// <summary>
/// The prefetch policy of a batched matmul: for each kernel call of a block of 4 weight rows (a block takes one call
/// per tile kernel, <see cref="Tiles.KernelCallsPerBlock"/>), what it prefetches of the next block. The same for every
/// block of a job, so worked out once per job from the batch size.
/// <list type="bullet">
/// <item>A small batch (at most 4 calls per block) shares the next block's rows out over its calls, non-temporally:
/// weights are read once per step, so they should not push the activations and the KV cache out of L2; and a prefetch
/// that finds every miss buffer busy holds up the kernel, so if the first call fetched all four rows it would wait on
/// memory, and the calls after it would leave memory idle while they compute.</item>
/// <item>A prompt's block takes more calls and is bound by arithmetic: its first call fetches the whole next block
/// into L2, because the block's other calls stream the prompt's activations through L1, which would evict a
/// non-temporal prefetch's lines before they were used.</item>
/// </list>
/// </summary>
internal readonly unsafe struct PrefetchPlan
{
    readonly NextBlockPrefetch _call0, _call1, _call2, _call3; // later calls prefetch nothing

    PrefetchPlan(NextBlockPrefetch call0, NextBlockPrefetch call1, NextBlockPrefetch call2, NextBlockPrefetch call3) =>
        (_call0, _call1, _call2, _call3) = (call0, call1, call2, call3);

    /// <summary>The plan for a batch of <paramref name="tokens"/> tokens.</summary>
    public static PrefetchPlan For(int tokens)
    {
        int calls = Tiles.KernelCallsPerBlock(tokens);
        if (calls > Tiles.RowBlock)
            return new(NextBlockPrefetch.WholeBlockToL2, NextBlockPrefetch.None, NextBlockPrefetch.None, NextBlockPrefetch.None);
        // Row r goes to call r · calls / 4: spread evenly, in order.
        Span<NextBlockPrefetch> perCall = stackalloc NextBlockPrefetch[Tiles.RowBlock];
        perCall.Clear();
        for (int r = 0; r < Tiles.RowBlock; r++) perCall[r * calls / Tiles.RowBlock] |= (NextBlockPrefetch)(1 << r);
        return new(perCall[0], perCall[1], perCall[2], perCall[3]);
    }

    /// <summary>Whether each block's first call fetches the whole next block into L2 (a prompt).</summary>
    public bool WholeBlockToL2 => _call0 == NextBlockPrefetch.WholeBlockToL2;

    /// <summary>What kernel call <paramref name="call"/> of a block prefetches.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public NextBlockPrefetch ForCall(int call) => call switch
    {
        0 => _call0,
        1 => _call1,
        2 => _call2,
        3 => _call3,
        _ => NextBlockPrefetch.None,
    };

    /// <summary>
    /// Issues <paramref name="what"/> for the cache line at offset k of the block of 4 rows (<paramref name="ldw"/>
    /// weights apart) that follows the block starting at <paramref name="w0"/>; once per 64-byte line of k.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void NextBlock<TW>(TW* w0, long ldw, int k, NextBlockPrefetch what) where TW : unmanaged
    {
        if (!Sse.IsSupported || ((long)k * sizeof(TW) & 63) != 0) return;
        TW* next = w0 + 4 * ldw + k;
        if (what == NextBlockPrefetch.WholeBlockToL2)
        {
            Sse.Prefetch1(next);
            Sse.Prefetch1(next + ldw);
            Sse.Prefetch1(next + 2 * ldw);
            Sse.Prefetch1(next + 3 * ldw);
            return;
        }
        if ((what & NextBlockPrefetch.Row0) != 0) Sse.PrefetchNonTemporal(next);
        if ((what & NextBlockPrefetch.Row1) != 0) Sse.PrefetchNonTemporal(next + ldw);
        if ((what & NextBlockPrefetch.Row2) != 0) Sse.PrefetchNonTemporal(next + 2 * ldw);
        if ((what & NextBlockPrefetch.Row3) != 0) Sse.PrefetchNonTemporal(next + 3 * ldw);
    }
}

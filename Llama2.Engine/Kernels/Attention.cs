using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Llama2.Engine.Kernels;

/// <summary>
/// How a kernel adds up a sum of many terms. Vectorized sums (in vector lanes, then across them) are fast and differ
/// from a sum in order in the last bits; that is harmless for fp32 weights. Int8 weights need run.c's order: their
/// activations are quantized before every matmul, which turns a last-bit difference into a different int8 value now
/// and then, and a different token after a while.
/// </summary>
public enum Summation
{
    Vectorized,
    /// <summary>Term by term in order, as run.c and runq.c sum (compiled without -ffast-math).</summary>
    InOrder,
}

/// <summary>Attention of one query head over the key/value cache, vectorized over the head dimension.</summary>
[SkipLocalsInit]
public static unsafe class Attention
{
    /// <summary>
    /// Self-attention for a batch of tokens of one layer, every (token, head) pair a unit of work for the threads.
    /// q and output are tokens × dim; token t attends to the cache rows of views[t] (its sequence's keys and values of
    /// this layer, filled up to and including its own position); att is scratch of tokens × heads × seq_len.
    /// Query head h reads key/value head h / (heads / kvHeads) (grouped-query attention).
    /// </summary>
    public static void Run(ReadOnlySpan<float> q, Span<float> output, Span<float> att, ReadOnlySpan<KvView> views,
        int heads, int kvHeads, int headSize, int seqLen, Summation summation = Summation.Vectorized)
    {
        int tokens = views.Length, dim = heads * headSize;
        if (tokens == 0 || kvHeads <= 0 || heads % kvHeads != 0 || q.Length < tokens * dim || output.Length < tokens * dim ||
            att.Length < (long)tokens * heads * seqLen)
            throw new ArgumentException("attention sizes do not match");
        int longest = 0;
        foreach (var view in views)
        {
            if (view.Length < 1 || view.Length > seqLen) throw new ArgumentException($"a token attends to 1..{seqLen} positions, not {view.Length}");
            longest = Math.Max(longest, view.Length);
        }
        fixed (float* pq = q, po = output, pa = att)
        fixed (KvView* pv = views)
        {
            var job = new Job(Simd.Width, pq, po, pa, pv, heads, heads / kvHeads, headSize, kvHeads * headSize, seqLen, longest, summation);
            Workers.For(tokens * heads, ref job);
        }
    }

    /// <summary>
    /// One head of one token, <see cref="Head{TVec, TOps}"/>, at a given vector width (16, 8, 4 or 1), so that tests
    /// can check every rung of the ladder.
    /// </summary>
    internal static void Head(int width, float* q, float* keys, float* values, int stride, int len, int headSize, float* att, float* output,
        Summation summation = Summation.Vectorized)
    {
        var view = new KvView(keys, values, len);
        new Job(width, q, output, att, &view, heads: 1, kvMul: 1, headSize, kvDim: stride, seqLen: len, longest: len, summation).Run(0, 1);
    }

    readonly struct Job(int width, float* q, float* output, float* att, KvView* views,
        int heads, int kvMul, int headSize, int kvDim, int seqLen, int longest, Summation summation) : IRowJob
    {
        public long CostPerRow => 2L * longest * headSize;

        public void Run(int start, int end)
        {
            var rows = new Rows(this, start, end);
            Simd.Dispatch(width, ref rows);
        }

        readonly struct Rows(Job job, int start, int end) : IWidthKernel
        {
            public void Run<TVec, TOps>() where TVec : struct where TOps : struct, IVectorOps<TVec> => job.Run<TVec, TOps>(start, end);
        }

        void Run<TVec, TOps>(int start, int end) where TVec : struct where TOps : struct, IVectorOps<TVec>
        {
            for (int row = start; row < end; row++)
            {
                int t = row / heads, h = row % heads;
                var view = views[t];
                long kvOffset = (long)(h / kvMul) * headSize;
                long qOffset = (long)t * heads * headSize + (long)h * headSize;
                if (summation == Summation.InOrder)
                    HeadInOrder<TVec, TOps>(q + qOffset, view.Keys + kvOffset, view.Values + kvOffset, kvDim, view.Length, headSize,
                        att + (long)row * seqLen, output + qOffset);
                else
                    Head<TVec, TOps>(q + qOffset, view.Keys + kvOffset, view.Values + kvOffset, kvDim, view.Length, headSize,
                        att + (long)row * seqLen, output + qOffset);
            }
        }
    }

    /// <summary>
    /// output (headSize) = Σ_t softmax_t(q · k_t / √headSize) v_t over positions t in [0, len). Key and value rows of
    /// consecutive positions are <paramref name="stride"/> floats apart (the cache's kv_dim). att (len) is scratch.
    /// Compiled on its own, never inlined: inlined into the width dispatch above it, its loops run short of registers
    /// and the head is markedly slower.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    static void Head<TVec, TOps>(float* q, float* keys, float* values, long stride, int len, int headSize, float* att, float* output)
        where TVec : struct where TOps : struct, IVectorOps<TVec>
    {
        // Scores: the same dot-product kernels as the matmuls, four cache rows at a time (prefetching the next four).
        float scale = 1f / MathF.Sqrt(headSize);
        int t = 0;
        for (; t <= len - 4; t += 4) Tiles.Dot4x1<TVec, TOps>(keys + t * stride, stride, q, headSize, att + t, NextBlockPrefetch.AllRows);
        for (; t < len; t++) att[t] = Tiles.Dot<TVec, TOps>(keys + t * stride, q, headSize);
        var scores = new Span<float>(att, len);
        for (t = 0; t < len; t++) scores[t] *= scale;
        Ops.Softmax(scores);

        // Weighted sum of the values: up to four vectors of the head in one pass over the positions, each element
        // summed over the positions in order.
        int w = TOps.Width, j = 0;
        for (int vectors; (vectors = Math.Min(4, (headSize - j) / w)) > 0; j += vectors * w)
        {
            TVec o0 = TOps.Zero, o1 = TOps.Zero, o2 = TOps.Zero, o3 = TOps.Zero;
            float* v = values + j;
            for (t = 0; t < len; t++, v += stride)
            {
                TVec a = TOps.Broadcast(att[t]);
                o0 = TOps.Fma(TOps.Load(v), a, o0);
                if (vectors > 1) o1 = TOps.Fma(TOps.Load(v + w), a, o1);
                if (vectors > 2) o2 = TOps.Fma(TOps.Load(v + 2 * w), a, o2);
                if (vectors > 3) o3 = TOps.Fma(TOps.Load(v + 3 * w), a, o3);
            }
            TOps.Store(output + j, o0);
            if (vectors > 1) TOps.Store(output + j + w, o1);
            if (vectors > 2) TOps.Store(output + j + 2 * w, o2);
            if (vectors > 3) TOps.Store(output + j + 3 * w, o3);
        }
        for (; j < headSize; j++)
        {
            float o = 0f;
            float* v = values + j;
            for (t = 0; t < len; t++, v += stride) o = MathF.FusedMultiplyAdd(*v, att[t], o);
            output[j] = o;
        }
    }

    /// <summary>
    /// <see cref="Head{TVec, TOps}"/> with run.c's arithmetic to the bit (<see cref="Summation.InOrder"/>): each score is
    /// q · k summed term by term in order and then divided by √headSize; each output element is Σ_t att[t] · v_t summed
    /// over the positions in order, a product then a sum (no fused multiply-add). Four positions' scores are summed side
    /// by side, and the value sums run over whole vectors of the head: neither changes any element's order.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    static void HeadInOrder<TVec, TOps>(float* q, float* keys, float* values, long stride, int len, int headSize, float* att, float* output)
        where TVec : struct where TOps : struct, IVectorOps<TVec>
    {
        float divisor = MathF.Sqrt(headSize);
        int t = 0, w = TOps.Width;
        if (w > 1 && headSize % w == 0)
        {
            // Width positions at once, one per lane: a square of their keys is transposed so that each vector holds
            // element i of every position's key, and the lanes' sums go on term by term in order.
            var div = TOps.Broadcast(divisor);
            for (; t <= len - w; t += w)
            {
                TVec score = TOps.Zero;
                for (int i0 = 0; i0 < headSize; i0 += w) score = TOps.AddDotsInOrder(keys + t * stride + i0, stride, q + i0, score);
                TOps.Store(att + t, TOps.Divide(score, div));
            }
        }
        for (; t <= len - 4; t += 4)
        {
            float* k0 = keys + t * stride, k1 = k0 + stride, k2 = k1 + stride, k3 = k2 + stride;
            float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f;
            for (int i = 0; i < headSize; i++)
            {
                float qi = q[i];
                s0 += qi * k0[i];
                s1 += qi * k1[i];
                s2 += qi * k2[i];
                s3 += qi * k3[i];
            }
            att[t] = s0 / divisor;
            att[t + 1] = s1 / divisor;
            att[t + 2] = s2 / divisor;
            att[t + 3] = s3 / divisor;
        }
        for (; t < len; t++)
        {
            float* k = keys + t * stride;
            float score = 0f;
            for (int i = 0; i < headSize; i++) score += q[i] * k[i];
            att[t] = score / divisor;
        }
        Ops.Softmax(new Span<float>(att, len));

        int j = 0;
        for (; j <= headSize - w; j += w)
        {
            TVec o = TOps.Zero;
            float* v = values + j;
            for (t = 0; t < len; t++, v += stride) o = TOps.Add(o, TOps.Multiply(TOps.Broadcast(att[t]), TOps.Load(v)));
            TOps.Store(output + j, o);
        }
        for (; j < headSize; j++)
        {
            float o = 0f;
            float* v = values + j;
            for (t = 0; t < len; t++, v += stride) o += att[t] * *v;
            output[j] = o;
        }
    }
}

/// <summary>
/// What one token attends to: the first <paramref name="length"/> key and value rows of its sequence's cache for one
/// layer (rows kv_dim apart).
/// </summary>
public readonly unsafe struct KvView(float* keys, float* values, int length)
{
    public readonly float* Keys = keys, Values = values;
    public readonly int Length = length;
}

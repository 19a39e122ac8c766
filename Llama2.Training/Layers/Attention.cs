using Llama2.Training.Diagnostics;
using System.Numerics;
using System.Numerics.Tensors;
using Llama2.Engine.Kernels;
using Llama2.Training.Kernels;

namespace Llama2.Training.Layers;

/// <summary>
/// Causal self-attention with grouped-query heads, over a batch of sequences of T tokens (rows b·T … b·T + T − 1 are
/// sequence b). Query head h reads key/value head h / (heads / kvHeads). For each sequence and head:
/// S = Q Kᵀ / √head_size on and below the diagonal, P = softmax of each row, O = P V. P is kept for the backward pass.
/// <para>
/// The unit of work is one sequence's key/value head with its query heads, so the gradients of a key/value head
/// (summed over its query heads) are written by one thread, in head order. Every product is the
/// <see cref="Gemm"/> kernel with the causal mask's triangle skipped.
/// </para>
/// </summary>
internal static unsafe class Attention
{
    /// <summary>The sizes of one call: B sequences of T tokens, the head counts, and the row widths.</summary>
    public readonly record struct Shape(int Sequences, int SeqLen, int Heads, int KvHeads, int HeadSize)
    {
        public int Dim => Heads * HeadSize;
        public int KvDim => KvHeads * HeadSize;
        public int Tokens => Sequences * SeqLen;
        public int Units => Sequences * KvHeads;
        /// <summary>Floats of P: a T × T matrix per sequence and head.</summary>
        public long ProbabilityCount => (long)Sequences * Heads * SeqLen * SeqLen;
        /// <summary>Floats of scratch the forward pass needs (a transposed key head per unit).</summary>
        public long ForwardScratch => (long)Units * HeadSize * SeqLen;
        /// <summary>Floats of scratch the backward pass needs (a transposed value head and a T × T matrix per unit).</summary>
        public long BackwardScratch => (long)Units * (HeadSize * SeqLen + (long)SeqLen * SeqLen);

        public void Check()
        {
            if (Sequences < 0 || SeqLen <= 0 || KvHeads <= 0 || Heads % KvHeads != 0 || HeadSize <= 0)
                throw new ArgumentException("attention shape is not valid");
        }
    }

    /// <summary>
    /// output (tokens × dim) = attention of q (tokens × dim) over k, v (tokens × kvDim); probabilities
    /// (sequences × heads × T × T) keeps P, zero above the diagonal.
    /// </summary>
    public static void Forward(Shape s, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, Span<float> output,
        Span<float> probabilities, Span<float> scratch)
    {
        using var timing = OperationTimes.Measure(Operation.AttentionForward);
        s.Check();
        long tokens = s.Tokens;
        if (q.Length < tokens * s.Dim || output.Length < tokens * s.Dim || k.Length < tokens * s.KvDim || v.Length < tokens * s.KvDim ||
            probabilities.Length < s.ProbabilityCount || scratch.Length < s.ForwardScratch)
            throw new ArgumentException("attention sizes do not match");
        fixed (float* pq = q, pk = k, pv = v, po = output, pp = probabilities, ps = scratch)
        {
            var job = new ForwardJob(s, pq, pk, pv, po, pp, ps);
            Workers.For(s.Units, ref job);
        }
    }

    /// <summary>
    /// dq, dk, dv (the gradients of the rotated q and k, and of v) from dOutput and the forward pass's q, k, v and P.
    /// Each is overwritten.
    /// </summary>
    public static void Backward(Shape s, ReadOnlySpan<float> dOutput, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v,
        ReadOnlySpan<float> probabilities, Span<float> dq, Span<float> dk, Span<float> dv, Span<float> scratch)
    {
        using var timing = OperationTimes.Measure(Operation.AttentionBackward);
        s.Check();
        long tokens = s.Tokens;
        if (q.Length < tokens * s.Dim || dOutput.Length < tokens * s.Dim || dq.Length < tokens * s.Dim ||
            k.Length < tokens * s.KvDim || v.Length < tokens * s.KvDim || dk.Length < tokens * s.KvDim || dv.Length < tokens * s.KvDim ||
            probabilities.Length < s.ProbabilityCount || scratch.Length < s.BackwardScratch)
            throw new ArgumentException("attention sizes do not match");
        fixed (float* pdo = dOutput, pq = q, pk = k, pv = v, pp = probabilities, pdq = dq, pdk = dk, pdv = dv, ps = scratch)
        {
            var job = new BackwardJob(s, pdo, pq, pk, pv, pp, pdq, pdk, pdv, ps);
            Workers.For(s.Units, ref job);
        }
    }

    /// <summary>The pointers of one unit (sequence b, key/value head g) into the batch's matrices.</summary>
    readonly struct Unit
    {
        public readonly int B, G, FirstHead;
        public readonly long QOffset, KvOffset;

        public Unit(in Shape s, int unit)
        {
            B = unit / s.KvHeads;
            G = unit % s.KvHeads;
            FirstHead = G * (s.Heads / s.KvHeads);
            QOffset = (long)B * s.SeqLen * s.Dim;
            KvOffset = (long)B * s.SeqLen * s.KvDim + (long)G * s.HeadSize;
        }

        public long Head(in Shape s, int h) => QOffset + (long)h * s.HeadSize;
        public long Probabilities(in Shape s, int h) => ((long)B * s.Heads + h) * s.SeqLen * s.SeqLen;
    }

    readonly struct ForwardJob(Shape s, float* q, float* k, float* v, float* output, float* probabilities, float* scratch) : IRowJob
    {
        public long CostPerRow => 2L * s.SeqLen * s.SeqLen * s.HeadSize * (s.Heads / s.KvHeads);

        public void Run(int start, int end)
        {
            int t = s.SeqLen, hs = s.HeadSize, dim = s.Dim, kvDim = s.KvDim;
            float scale = 1f / MathF.Sqrt(hs);
            for (int index = start; index < end; index++)
            {
                var u = new Unit(s, index);
                float* kT = scratch + (long)index * hs * t;
                Transpose.Run(k + u.KvOffset, t, hs, kvDim, kT, t);
                for (int h = u.FirstHead; h < u.FirstHead + s.Heads / s.KvHeads; h++)
                {
                    float* p = probabilities + u.Probabilities(s, h);
                    float* qh = q + u.Head(s, h);
                    Gemm.RunSerial(new GemmOperands(t, t, hs, qh, dim, 1, kT, t, p, t, false, Triangle.LowerColumns));
                    for (int row = 0; row < t; row++) SoftmaxRow(p + (long)row * t, row + 1, t, scale);
                    Gemm.RunSerial(new GemmOperands(t, hs, t, p, t, 1, v + u.KvOffset, kvDim, output + u.Head(s, h), dim, false, Triangle.SumUpToRow));
                }
            }
        }
    }

    readonly struct BackwardJob(Shape s, float* dOutput, float* q, float* k, float* v, float* probabilities,
        float* dq, float* dk, float* dv, float* scratch) : IRowJob
    {
        public long CostPerRow => 4L * s.SeqLen * s.SeqLen * s.HeadSize * (s.Heads / s.KvHeads);

        public void Run(int start, int end)
        {
            int t = s.SeqLen, hs = s.HeadSize, dim = s.Dim, kvDim = s.KvDim;
            float scale = 1f / MathF.Sqrt(hs);
            for (int index = start; index < end; index++)
            {
                var u = new Unit(s, index);
                float* vT = scratch + (long)index * (hs * t + (long)t * t);
                float* dS = vT + (long)hs * t;
                Transpose.Run(v + u.KvOffset, t, hs, kvDim, vT, t);
                for (int h = u.FirstHead; h < u.FirstHead + s.Heads / s.KvHeads; h++)
                {
                    bool first = h == u.FirstHead;
                    float* p = probabilities + u.Probabilities(s, h);
                    float* dOut = dOutput + u.Head(s, h);
                    // dP = dO Vᵀ, then dS = P ⊙ (dP − Σ_s P dP) / √head_size, zero above the diagonal.
                    Gemm.RunSerial(new GemmOperands(t, t, hs, dOut, dim, 1, vT, t, dS, t, false, Triangle.LowerColumns));
                    for (int row = 0; row < t; row++) SoftmaxBackwardRow(p + (long)row * t, dS + (long)row * t, row + 1, t, scale);
                    // dQ = dS K; dK += dSᵀ Q; dV += Pᵀ dO (the first query head of the group starts the sums).
                    Gemm.RunSerial(new GemmOperands(t, hs, t, dS, t, 1, k + u.KvOffset, kvDim, dq + u.Head(s, h), dim, false, Triangle.SumUpToRow));
                    Gemm.RunSerial(new GemmOperands(t, hs, t, dS, 1, t, q + u.Head(s, h), dim, dk + u.KvOffset, kvDim, !first, Triangle.SumFromRow));
                    Gemm.RunSerial(new GemmOperands(t, hs, t, p, 1, t, dOut, dim, dv + u.KvOffset, kvDim, !first, Triangle.SumFromRow));
                }
            }
        }
    }

    /// <summary>
    /// One row of scores s (length entries, the rest of the row's width masked) into probabilities, as the engine's
    /// attention computes them: s · scale, then e^(x − max) by the engine's exp (glibc's expf, bit for bit), divided by
    /// their sum; zero past length. Only the sum runs in another order (vectors, not one by one).
    /// </summary>
    static void SoftmaxRow(float* row, int length, int width, float scale)
    {
        // x = s · scale and its max, in one pass.
        int n = Vector<float>.Count, i = 0;
        float max = float.NegativeInfinity;
        if (Vector.IsHardwareAccelerated && length >= n)
        {
            var vscale = new Vector<float>(scale);
            var vmax = new Vector<float>(float.NegativeInfinity);
            for (; i <= length - n; i += n)
            {
                var x = Vector.Load(row + i) * vscale;
                x.Store(row + i);
                vmax = Vector.Max(vmax, x);
            }
            for (int j = 0; j < n; j++) max = MathF.Max(max, vmax[j]);
        }
        for (; i < length; i++) max = MathF.Max(max, row[i] *= scale);

        var probabilities = new Span<float>(row, length);
        Exp.Compute(probabilities, probabilities, max);
        float sum = TensorPrimitives.Sum(probabilities);
        i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var vsum = new Vector<float>(sum);
            for (; i <= length - n; i += n) (Vector.Load(row + i) / vsum).Store(row + i);
        }
        for (; i < length; i++) row[i] /= sum;
        new Span<float>(row + length, width - length).Clear();
    }

    /// <summary>
    /// One row of dP (length entries) into dS = P ⊙ (dP − Σ P dP) · scale, zero past length (the gradient of the
    /// scores before the scale, through the softmax). Whole vectors where they fit in the row: P is 0 past length,
    /// so the extra terms are 0.
    /// </summary>
    static void SoftmaxBackwardRow(float* p, float* d, int length, int width, float scale)
    {
        length = Math.Min(width, (length + Vector<float>.Count - 1) / Vector<float>.Count * Vector<float>.Count);
        float dot = TensorPrimitives.Dot(new ReadOnlySpan<float>(p, length), new ReadOnlySpan<float>(d, length));
        int n = Vector<float>.Count, i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var vdot = new Vector<float>(dot);
            var vscale = new Vector<float>(scale);
            for (; i <= length - n; i += n) (Vector.Load(p + i) * (Vector.Load(d + i) - vdot) * vscale).Store(d + i);
        }
        for (; i < length; i++) d[i] = p[i] * (d[i] - dot) * scale;
        new Span<float>(d + length, width - length).Clear();
    }
}

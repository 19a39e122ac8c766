using Llama2.Training.Diagnostics;
using System.Numerics;
using Llama2.Engine.Inference;
using Llama2.Engine.Kernels;

namespace Llama2.Training.Optimization;

/// <summary>
/// AdamW as PyTorch's torch.optim.AdamW computes it (decoupled weight decay, bias-corrected moments), with weight
/// decay on the 2-D weights only (model.py's configure_optimizers): the parameters from <see cref="DecayStart"/> on.
/// The moments are laid out as the parameters and are part of a training checkpoint.
/// </summary>
public sealed unsafe class AdamW
{
    readonly AlignedFloats _m, _v;

    public AdamW(int count, long decayStart, float beta1 = 0.9f, float beta2 = 0.95f, float epsilon = 1e-8f, float weightDecay = 0.1f)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        if (decayStart < 0 || decayStart > count) throw new ArgumentOutOfRangeException(nameof(decayStart));
        _m = new AlignedFloats(count);
        _v = new AlignedFloats(count);
        DecayStart = decayStart;
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
        WeightDecay = weightDecay;
    }

    public long DecayStart { get; }
    public float Beta1 { get; }
    public float Beta2 { get; }
    public float Epsilon { get; }
    public float WeightDecay { get; }

    /// <summary>Updates taken so far (the bias corrections' t).</summary>
    public long StepCount { get; set; }

    /// <summary>First moments (exp_avg).</summary>
    public Span<float> M => _m.AsSpan(0, _m.Length);
    /// <summary>Second moments (exp_avg_sq).</summary>
    public Span<float> V => _v.AsSpan(0, _v.Length);

    /// <summary>One update of every parameter with its gradient at learning rate <paramref name="lr"/>.</summary>
    public void Step(Span<float> parameters, ReadOnlySpan<float> gradients, float lr)
    {
        using var timing = OperationTimes.Measure(Operation.AdamW);
        if (parameters.Length != _m.Length || gradients.Length != _m.Length) throw new ArgumentException("parameter and gradient buffers must match the optimiser's");
        StepCount++;
        float bias1 = 1f - MathF.Pow(Beta1, StepCount);
        float bias2Sqrt = MathF.Sqrt(1f - MathF.Pow(Beta2, StepCount));
        fixed (float* p = parameters, g = gradients, m = M, v = V)
        {
            var job = new Job(p, g, m, v, _m.Length, DecayStart, lr, this, lr / bias1, bias2Sqrt);
            Workers.For(job.Chunks, ref job);
        }
    }

    readonly struct Job(float* p, float* g, float* m, float* v, int count, long decayStart, float lr, AdamW o, float stepSize, float bias2Sqrt) : IRowJob
    {
        const int ChunkSize = 1 << 14;
        public int Chunks => (count + ChunkSize - 1) / ChunkSize;
        public long CostPerRow => 12L * ChunkSize;

        public void Run(int start, int end)
        {
            float decayed = 1f - lr * o.WeightDecay;
            for (int chunk = start; chunk < end; chunk++)
            {
                int from = chunk * ChunkSize, to = Math.Min(count, from + ChunkSize);
                if (from < decayStart && to > decayStart)
                {
                    Update(from, (int)decayStart, 1f);
                    Update((int)decayStart, to, decayed);
                }
                else Update(from, to, from >= decayStart ? decayed : 1f);
            }
        }

        /// <summary>Elements [from, to): p ← p · decay; m ← m + (g − m)(1 − β1); v ← β2 v + (1 − β2) g²; p ← p − step · m / (√v / √(1 − β2^t) + ε).</summary>
        void Update(int from, int to, float decay)
        {
            float oneMinusBeta1 = 1f - o.Beta1, beta2 = o.Beta2, oneMinusBeta2 = 1f - o.Beta2, eps = o.Epsilon;
            int i = from;
            if (Vector.IsHardwareAccelerated)
            {
                var vDecay = new Vector<float>(decay);
                var vb1 = new Vector<float>(oneMinusBeta1);
                var vb2 = new Vector<float>(beta2);
                var vob2 = new Vector<float>(oneMinusBeta2);
                var vEps = new Vector<float>(eps);
                var vStep = new Vector<float>(stepSize);
                var vBias2 = new Vector<float>(bias2Sqrt);
                for (; i <= to - Vector<float>.Count; i += Vector<float>.Count)
                {
                    var gi = Vector.Load(g + i);
                    var mi = Vector.Load(m + i);
                    mi += (gi - mi) * vb1;
                    var vi = Vector.Load(v + i) * vb2 + gi * gi * vob2;
                    mi.Store(m + i);
                    vi.Store(v + i);
                    var pi = Vector.Load(p + i) * vDecay;
                    (pi - vStep * mi / (Vector.SquareRoot(vi) / vBias2 + vEps)).Store(p + i);
                }
            }
            for (; i < to; i++)
            {
                float gi = g[i];
                float mi = m[i] + (gi - m[i]) * oneMinusBeta1;
                float vi = v[i] * beta2 + gi * gi * oneMinusBeta2;
                m[i] = mi;
                v[i] = vi;
                p[i] = p[i] * decay - stepSize * mi / (MathF.Sqrt(vi) / bias2Sqrt + eps);
            }
        }
    }
}

using Llama2.Training.Diagnostics;
using System.Numerics.Tensors;
using Llama2.Engine.Kernels;

namespace Llama2.Training.Layers;

/// <summary>
/// Softmax cross-entropy of each row of logits against its target token: loss = log Σ exp(z) − z[target]. Its
/// gradient, in place of the logits: (softmax(z) − onehot(target)) · scale, scale being 1 / (the tokens the loss is
/// averaged over).
/// </summary>
internal static unsafe class CrossEntropy
{
    /// <summary>
    /// losses[r] = the loss of row r (rows × vocab logits). The logits are worked on in place: with
    /// <paramref name="gradientScale"/> not null each row ends as its gradient, scaled; without, as scratch.
    /// </summary>
    public static void Run(Span<float> logits, ReadOnlySpan<int> targets, Span<float> losses, int rows, int vocab, float? gradientScale)
    {
        using var timing = OperationTimes.Measure(Operation.CrossEntropy);
        if (rows < 0 || vocab <= 0 || logits.Length < (long)rows * vocab || targets.Length < rows || losses.Length < rows)
            throw new ArgumentException("cross-entropy sizes do not match");
        foreach (int target in targets[..rows])
            if ((uint)target >= (uint)vocab) throw new ArgumentOutOfRangeException(nameof(targets), target, $"a target token must be in 0..{vocab - 1}");
        fixed (float* pl = logits, ploss = losses)
        fixed (int* pt = targets)
        {
            var job = new Job(pl, pt, ploss, vocab, gradientScale ?? 0f, gradientScale is not null);
            Workers.For(rows, ref job);
        }
    }

    readonly struct Job(float* logits, int* targets, float* losses, int vocab, float scale, bool gradient) : IRowJob
    {
        public long CostPerRow => 8L * vocab;

        public void Run(int start, int end)
        {
            for (int r = start; r < end; r++)
            {
                var z = new Span<float>(logits + (long)r * vocab, vocab);
                int target = targets[r];
                float max = TensorPrimitives.Max(z);
                float zt = z[target];
                TensorPrimitives.Subtract(z, max, z);
                TensorPrimitives.Exp(z, z);
                float sum = TensorPrimitives.Sum(z);
                losses[r] = MathF.Log(sum) - (zt - max);
                if (!gradient) continue;
                TensorPrimitives.Multiply(z, scale / sum, z);
                z[target] -= scale;
            }
        }
    }
}

using Llama2.Training.Diagnostics;
using System.Numerics.Tensors;
using Llama2.Engine.Kernels;

namespace Llama2.Training.Optimization;

/// <summary>
/// Clips the gradients' global L2 norm as torch.nn.utils.clip_grad_norm_: if the norm exceeds the maximum, every
/// gradient is scaled by max / (norm + 1e-6). The norm is summed in fixed blocks, combined in order in double
/// precision, so it is the same on any number of threads.
/// </summary>
public static unsafe class GradientClipping
{
    const int Block = 1 << 14;

    /// <summary>The global L2 norm of the gradients before clipping.</summary>
    public static float Clip(Span<float> gradients, float maxNorm)
    {
        using var timing = OperationTimes.Measure(Operation.GradientClipping);
        float norm = Norm(gradients);
        if (maxNorm > 0 && norm > maxNorm) TensorPrimitives.Multiply(gradients, maxNorm / (norm + 1e-6f), gradients);
        return norm;
    }

    public static float Norm(ReadOnlySpan<float> gradients)
    {
        int blocks = (gradients.Length + Block - 1) / Block;
        double[] partial = System.Buffers.ArrayPool<double>.Shared.Rent(blocks);
        try
        {
            fixed (float* g = gradients)
            fixed (double* s = partial)
            {
                var job = new SumOfSquaresJob(g, gradients.Length, s);
                Workers.For(blocks, ref job);
            }
            double sum = 0;
            for (int b = 0; b < blocks; b++) sum += partial[b];
            return (float)Math.Sqrt(sum);
        }
        finally
        {
            System.Buffers.ArrayPool<double>.Shared.Return(partial);
        }
    }

    readonly struct SumOfSquaresJob(float* g, int length, double* sums) : IRowJob
    {
        public long CostPerRow => Block;

        public void Run(int start, int end)
        {
            for (int b = start; b < end; b++)
            {
                int from = b * Block;
                sums[b] = TensorPrimitives.SumOfSquares(new ReadOnlySpan<float>(g + from, Math.Min(Block, length - from)));
            }
        }
    }
}

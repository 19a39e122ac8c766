using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace Llama2.Engine.Kernels;

/// <summary>Matrix × vector: the hot loop of decoding, reading every weight once per token.</summary>
public static unsafe class MatMul
{
    /// <summary>
    /// xout (d) = W (d × n, row-major) · x (n). Rows are split across the worker threads when the matrix is large
    /// enough for that to pay off.
    /// </summary>
    public static void MatVec(Span<float> xout, ReadOnlySpan<float> x, ReadOnlySpan<float> w, int n, int d)
    {
        if (w.Length < (long)n * d || x.Length < n || xout.Length < d)
            throw new ArgumentException("matrix and vector sizes do not match");
        fixed (float* pOut = xout, pX = x, pW = w)
        {
            var job = new MatVecJob(pOut, pX, pW, n);
            Workers.For(d, ref job);
        }
    }

    readonly struct MatVecJob(float* xout, float* x, float* w, int n) : IRowJob
    {
        public void Run(int start, int end)
        {
            var xs = new ReadOnlySpan<float>(x, n);
            for (int i = start; i < end; i++)
                xout[i] = TensorPrimitives.Dot(new ReadOnlySpan<float>(w + (long)i * n, n), xs);
        }

        public long CostPerRow => n;
    }
}

using Llama2.Training.Diagnostics;
using Llama2.Training.Kernels;

namespace Llama2.Training.Layers;

/// <summary>
/// A linear layer without bias, y = x · Wᵀ with W (d × n) row-major as llama2.c stores it, and its two backward
/// products. Rows are tokens. The forward product takes Wᵀ (n × d), kept beside the weights (see
/// <see cref="Model.TransposedWeights"/>), so that all three are the same outer-product kernel (<see cref="Gemm"/>).
/// </summary>
internal static unsafe class Linear
{
    /// <summary>y (tokens × d) = x (tokens × n) · Wᵀ, or y += … with <paramref name="accumulate"/> (a residual add).</summary>
    public static void Forward(Span<float> y, ReadOnlySpan<float> x, ReadOnlySpan<float> wT, int tokens, int n, int d, bool accumulate = false)
    {
        using var timing = OperationTimes.Measure(Operation.LinearForward);
        Check(tokens, n, d, y.Length, (long)tokens * d, x.Length, (long)tokens * n, wT.Length);
        fixed (float* py = y, px = x, pw = wT)
            Gemm.Run(new GemmOperands(tokens, d, n, px, n, 1, pw, d, py, d, accumulate));
    }

    /// <summary>dx (tokens × n) = dy (tokens × d) · W, or dx += … with <paramref name="accumulate"/>.</summary>
    public static void BackwardInput(Span<float> dx, ReadOnlySpan<float> dy, ReadOnlySpan<float> w, int tokens, int n, int d, bool accumulate)
    {
        using var timing = OperationTimes.Measure(Operation.LinearBackwardInput);
        Check(tokens, n, d, dx.Length, (long)tokens * n, dy.Length, (long)tokens * d, w.Length);
        fixed (float* pdx = dx, pdy = dy, pw = w)
            Gemm.Run(new GemmOperands(tokens, n, d, pdy, d, 1, pw, n, pdx, n, accumulate));
    }

    /// <summary>dW (d × n) += dyᵀ · x: the gradient summed over the tokens, in token order.</summary>
    public static void BackwardWeight(Span<float> dw, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, int tokens, int n, int d)
    {
        using var timing = OperationTimes.Measure(Operation.LinearBackwardWeight);
        Check(tokens, n, d, dy.Length, (long)tokens * d, x.Length, (long)tokens * n, dw.Length);
        fixed (float* pdw = dw, pdy = dy, px = x)
            Gemm.Run(new GemmOperands(d, n, tokens, pdy, 1, d, px, n, pdw, n, accumulate: true));
    }

    /// <summary>Two activation matrices of at least the sizes given, and a weight matrix of at least n × d.</summary>
    static void Check(int tokens, int n, int d, int first, long firstNeeded, int second, long secondNeeded, int weights)
    {
        if (tokens < 0 || n <= 0 || d <= 0 || first < firstNeeded || second < secondNeeded || weights < (long)n * d)
            throw new ArgumentException($"matrix sizes do not match {tokens} tokens × {n} inputs → {d} outputs");
    }
}

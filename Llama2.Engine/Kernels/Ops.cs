using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Numerics.Tensors;

namespace Llama2.Engine.Kernels;

/// <summary>The small element-wise steps of the forward pass.</summary>
public static class Ops
{
    /// <summary>run.c's ε.</summary>
    public const float RmsNormEpsilon = 1e-5f;

    /// <summary>o = weight ⊙ x / sqrt(mean(x²) + ε); with <see cref="Summation.InOrder"/> x² summed in order, run.c's bits.</summary>
    public static void RmsNorm(Span<float> o, ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Summation summation = Summation.Vectorized,
        float epsilon = RmsNormEpsilon)
    {
        float ss = (summation == Summation.InOrder ? SumOfSquaresInOrder(x) : TensorPrimitives.SumOfSquares(x)) / x.Length + epsilon;
        float scale = 1f / MathF.Sqrt(ss);
        TensorPrimitives.Multiply(x, scale, o);
        TensorPrimitives.Multiply(o, weight, o);
    }

    static float SumOfSquaresInOrder(ReadOnlySpan<float> x)
    {
        float ss = 0f;
        foreach (float v in x) ss += v * v;
        return ss;
    }

    /// <summary>silu(v) = v·σ(v)</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Silu(float v) => v * (1f / (1f + MathF.Exp(-v)));

    /// <summary>
    /// <see cref="Silu(float)"/> of four floats, bit for bit: each step is exact or glibc's expf (<see cref="Exp"/>).
    /// Only where <see cref="Exp.IsVectorized"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<float> Silu(Vector128<float> v) =>
        v * (Vector128<float>.One / (Vector128<float>.One + Exp.Four(-v)));

    /// <summary>SwiGLU: hb = silu(hb) ⊙ hb2.</summary>
    public static void SwiGlu(Span<float> hb, ReadOnlySpan<float> hb2)
    {
        for (int i = 0; i < hb.Length; i++) hb[i] = Silu(hb[i]) * hb2[i];
    }

    /// <summary>
    /// In-place softmax, bit for bit run.c's (attention scores, and the sampler's probabilities): subtract the max,
    /// exponentiate (glibc's expf, see <see cref="Exp"/>), divide by the sum taken in order. Only the sum has to stay
    /// sequential.
    /// </summary>
    public static void Softmax(Span<float> x)
    {
        Exp.Compute(x, x, TensorPrimitives.Max(x));
        float sum = 0f;
        foreach (float e in x) sum += e;
        TensorPrimitives.Divide(x, sum, x);
    }
}

using System.Runtime.Intrinsics;

namespace Llama2.Engine.Model;

/// <summary>
/// llama2.c's Q8_0 quantization of weights (<c>export.py</c>'s <c>quantize_q80</c>), bit for bit: in each group of
/// groupSize consecutive weights, scale = max|w| / 127 in float32 and value = w / scale rounded to the nearest
/// integer, ties to even (<c>torch.round</c>), so values lie in [−127, 127]. A group of zeros gets scale 0 and values 0
/// (export.py would divide 0 by 0 there).
/// </summary>
public static class WeightQuantizer
{
    /// <summary>Quantizes <paramref name="weights"/> (a whole number of groups) into values and one scale per group.</summary>
    public static void Quantize(ReadOnlySpan<float> weights, Span<sbyte> values, Span<float> scales, int groupSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(groupSize);
        if (weights.Length % groupSize != 0) throw new ArgumentException($"{weights.Length} weights are not a whole number of groups of {groupSize}");
        int groups = weights.Length / groupSize;
        if (values.Length < weights.Length || scales.Length < groups) throw new ArgumentException("output too short");
        for (int g = 0; g < groups; g++)
        {
            var w = weights.Slice(g * groupSize, groupSize);
            float scale = MaxMagnitude(w) / 127.0f;
            scales[g] = scale;
            QuantizeGroup(w, values.Slice(g * groupSize, groupSize), scale);
        }
    }

    static float MaxMagnitude(ReadOnlySpan<float> w)
    {
        float max = 0f;
        int k = 0;
        if (Vector512.IsHardwareAccelerated && w.Length >= 16)
        {
            var m = Vector512<float>.Zero;
            for (; k <= w.Length - 16; k += 16) m = Vector512.Max(m, Vector512.Abs(Vector512.Create(w.Slice(k, 16))));
            for (int i = 0; i < 16; i++) max = Math.Max(max, m.GetElement(i));
        }
        for (; k < w.Length; k++) max = Math.Max(max, Math.Abs(w[k]));
        return max;
    }

    static void QuantizeGroup(ReadOnlySpan<float> w, Span<sbyte> q, float scale)
    {
        if (scale == 0f)
        {
            q.Clear();
            return;
        }
        int k = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var s = Vector512.Create(scale);
            Span<int> rounded = stackalloc int[16];
            for (; k <= w.Length - 16; k += 16)
            {
                Vector512.ConvertToInt32(Vector512.Round(Vector512.Create(w.Slice(k, 16)) / s)).CopyTo(rounded);
                for (int i = 0; i < 16; i++) q[k + i] = (sbyte)rounded[i];
            }
        }
        for (; k < w.Length; k++) q[k] = (sbyte)(int)MathF.Round(w[k] / scale, MidpointRounding.ToEven);
    }
}

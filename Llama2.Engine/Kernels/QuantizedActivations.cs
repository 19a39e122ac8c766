using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Llama2.Engine.Kernels;

/// <summary>
/// Activation rows quantized as runq.c quantizes them before each int8 matmul: in each group of groupSize values,
/// scale = max|x| / 127 and q = (int8) round(x / scale), C's round (half away from zero); a group of zeros gets scale 0
/// and values 0 (runq.c divides 0 by 0 there, and its cast makes that 0). The values are kept as int16 (the kernels
/// multiply int16 pairs, <see cref="IQ8Ops{TInt, TFloat}"/>), in pinned buffers aligned to a cache line that grow to the
/// largest batch once and are reused for every matmul after.
/// </summary>
[SkipLocalsInit]
internal sealed unsafe class QuantizedActivations
{
    const int Alignment = 64;
    short[] _values = [];
    float[] _scales = [];
    short* _valuesBase;
    float* _scalesBase;

    /// <summary>tokens × n int16, row after row.</summary>
    public short* Values => _valuesBase;
    /// <summary>tokens × (n / groupSize) scales.</summary>
    public float* Scales => _scalesBase;
    public int Columns { get; private set; }
    public int Tokens { get; private set; }
    public int GroupSize { get; private set; }

    /// <summary>Quantizes <paramref name="tokens"/> rows of <paramref name="n"/> floats from <paramref name="x"/>.</summary>
    public void Quantize(ReadOnlySpan<float> x, int n, int tokens, int groupSize)
    {
        if (groupSize <= 0 || n % groupSize != 0) throw new ArgumentException($"group size {groupSize} does not divide {n}");
        if (x.Length < (long)n * tokens) throw new ArgumentException("activations shorter than tokens × n");
        Reserve(n * tokens, n / groupSize * tokens);
        Columns = n;
        Tokens = tokens;
        GroupSize = groupSize;
        int groups = n * tokens / groupSize;
        fixed (float* px = x)
            for (int g = 0; g < groups; g++)
                QuantizeGroup(px + (long)g * groupSize, _valuesBase + (long)g * groupSize, groupSize, out _scalesBase[g]);
    }

    void Reserve(int values, int scales)
    {
        if (_values.Length < values + Alignment)
        {
            _values = GC.AllocateArray<short>(values + Alignment, pinned: true);
            _valuesBase = Align((short*)Unsafe.AsPointer(ref _values[0]));
        }
        if (_scales.Length < scales + Alignment)
        {
            _scales = GC.AllocateArray<float>(scales + Alignment, pinned: true);
            _scalesBase = Align((float*)Unsafe.AsPointer(ref _scales[0]));
        }
    }

    static T* Align<T>(T* p) where T : unmanaged => (T*)(((nint)p + Alignment - 1) & ~(nint)(Alignment - 1));

    /// <summary>One group, runq.c's <c>quantize</c>: vectorised where the group is whole vectors, with the same results.</summary>
    internal static void QuantizeGroup(float* x, short* q, int groupSize, out float scale)
    {
        float max = 0f;
        int k = 0;
        if (Vector512.IsHardwareAccelerated && groupSize % 16 == 0)
        {
            var m = Vector512<float>.Zero;
            for (; k < groupSize; k += 16) m = Vector512.Max(m, Vector512.Abs(Vector512.Load(x + k)));
            var m8 = Vector256.Max(m.GetLower(), m.GetUpper());
            var m4 = Vector128.Max(m8.GetLower(), m8.GetUpper());
            var m2 = Vector128.Max(m4, Vector128.Shuffle(m4, Vector128.Create(2, 3, 0, 1)));
            max = Math.Max(m2.GetElement(0), m2.GetElement(1));
        }
        else
            for (; k < groupSize; k++) max = Math.Max(max, Math.Abs(x[k]));
        scale = max / 127.0f;

        if (scale == 0f)
        {
            new Span<short>(q, groupSize).Clear();
            return;
        }
        k = 0;
        if (Vector512.IsHardwareAccelerated && groupSize % 16 == 0)
        {
            var s = Vector512.Create(scale);
            for (; k < groupSize; k += 16)
            {
                var v = Vector512.Load(x + k) / s;
                // Half away from zero: truncate, then a step away from zero when the dropped fraction is at least a half.
                var t = Vector512.Truncate(v);
                var step = Vector512.GreaterThanOrEqual(Vector512.Abs(v - t), Vector512.Create(0.5f)) & Vector512<float>.One;
                var r = t + Vector512.CopySign(step, v);
                var i = Vector512.ConvertToInt32(r);
                i = (i << 24) >> 24; // (int8_t) of the integer, as runq.c's cast
                Vector256.Narrow(i.GetLower(), i.GetUpper()).Store(q + k);
            }
        }
        else
            for (; k < groupSize; k++) q[k] = (sbyte)(int)MathF.Round(x[k] / scale, MidpointRounding.AwayFromZero);
    }
}

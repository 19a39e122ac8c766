using Llama2.Engine.Kernels;

namespace Llama2.Engine.Tests.Kernels;

/// <summary>
/// The vectorized e^x must return glibc's expf bit for bit (run.c's softmax, hence its sampled tokens, depend on it).
/// On Linux, MathF.Exp is glibc's expf, so it is the reference.
/// </summary>
public sealed class ExpTests
{
    static void RequireGlibcReference()
    {
        if (!OperatingSystem.IsLinux()) Assert.Skip("MathF.Exp is glibc's expf only on Linux");
    }

    static void AssertSameBits(float[] x, float[] actual, float shift)
    {
        for (int i = 0; i < x.Length; i++)
        {
            float expected = MathF.Exp(x[i] - shift);
            if (BitConverter.SingleToUInt32Bits(expected) != BitConverter.SingleToUInt32Bits(actual[i]) &&
                !(float.IsNaN(expected) && float.IsNaN(actual[i])))
                Assert.Fail($"e^({x[i]:R} - {shift:R}) = {actual[i]:R}, glibc gives {expected:R}");
        }
    }

    [Fact]
    public void Matches_glibc_expf_across_every_exponent()
    {
        RequireGlibcReference();
        // Every 251st bit pattern of all 2^32: both signs, every exponent, NaNs and infinities included.
        // (The whole range was checked once: 4294967296 floats, no difference.)
        const int count = 1 << 24;
        var x = new float[count];
        for (int i = 0; i < count; i++) x[i] = BitConverter.UInt32BitsToSingle((uint)((ulong)i * 251 % uint.MaxValue));
        var y = new float[count];
        Exp.Compute(x, y);
        AssertSameBits(x, y, 0f);
    }

    [Fact]
    public void Matches_glibc_expf_at_the_edges_and_after_a_shift()
    {
        RequireGlibcReference();
        float[] x =
        [
            0f, -0f, 1f, -1f, 88f, -88f, 87.99999f, -87.99999f, 88.72283f, 88.72284f, -103.27892f, -103.97207f, -104f,
            -103.5f, float.NegativeInfinity, float.PositiveInfinity, float.NaN, float.Epsilon, -float.Epsilon,
            1e-8f, -1e-8f, 0.5f, -0.5f, 10.25f, -10.25f, 3f, // a length that leaves a scalar tail
        ];
        foreach (float shift in new[] { 0f, 2.5f, -7f })
        {
            var y = new float[x.Length];
            Exp.Compute(x, y, shift);
            AssertSameBits(x, y, shift);
        }
        var inPlace = x.ToArray();
        Exp.Compute(inPlace, inPlace, 1f);
        AssertSameBits(x, inPlace, 1f);
    }
}

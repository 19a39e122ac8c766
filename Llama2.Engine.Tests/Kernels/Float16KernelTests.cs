using System.Runtime.Intrinsics;
using Llama2.Engine.Kernels;

namespace Llama2.Engine.Tests.Kernels;

/// <summary>
/// The bf16 and fp16 matmuls widen each weight to fp32 as they load it and add up exactly as the fp32 kernels do: at
/// every width, for one token (decoding) and for batches and prompts (tiles, panels), with every epilogue, their outputs
/// must equal bit for bit those of the fp32 matrix holding the same values.
/// </summary>
public sealed unsafe class Float16KernelTests
{
    public static TheoryData<int, WeightFormat> Cases
    {
        get
        {
            var cases = new TheoryData<int, WeightFormat>();
            foreach (int width in new[] { 16, 8, 4, 1 })
                foreach (var format in new[] { WeightFormat.BF16, WeightFormat.F16 })
                    cases.Add(width, format);
            return cases;
        }
    }

    // (n, rows, tokens): n with a scalar tail at every width, rows not a multiple of the 4-row block, one token,
    // small batches, a prompt (panels) and a row longer than a panel's share.
    static readonly (int N, int Rows, int Tokens)[] Sizes =
        [(64, 8, 1), (67, 9, 1), (48, 13, 3), (128, 16, 7), (35, 6, 6), (256, 12, 13), (2064, 8, 2), (96, 21, 24)];

    /// <summary>Random weights stored in 16 bits, some of them subnormal in fp16, and their exact fp32 values.</summary>
    static (ushort[] Bits, float[] Floats) RandomWeights(Random random, int count, WeightFormat format)
    {
        var bits = new ushort[count];
        var floats = new float[count];
        for (int i = 0; i < count; i++)
        {
            float value = (float)(random.NextDouble() * 2 - 1) * (i % 17 == 0 ? 1e-6f : 0.5f);
            if (format == WeightFormat.BF16)
            {
                bits[i] = (ushort)(BitConverter.SingleToUInt32Bits(value) >> 16);
                floats[i] = BitConverter.UInt32BitsToSingle((uint)bits[i] << 16);
            }
            else
            {
                bits[i] = BitConverter.HalfToUInt16Bits((Half)value);
                floats[i] = (float)(Half)value;
            }
        }
        return (bits, floats);
    }

    static float[] RandomArray(Random random, int count)
    {
        var a = new float[count];
        for (int i = 0; i < a.Length; i++) a[i] = (float)(random.NextDouble() * 2 - 1);
        return a;
    }

    static WeightMatrix Matrix(ushort* bits, WeightFormat format, int rows, int columns) =>
        format == WeightFormat.BF16 ? WeightMatrix.BF16(bits, rows, columns) : WeightMatrix.F16(bits, rows, columns);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Sixteen_bit_matmuls_equal_the_fp32_matmuls_of_the_same_values_bitwise(int width, WeightFormat format)
    {
        var random = new Random(width * 31 + (int)format);
        var scratch = new QuantizedActivations();
        foreach (var (n, rows, tokens) in Sizes)
        {
            var (bits1, floats1) = RandomWeights(random, rows * n, format);
            var (bits3, floats3) = RandomWeights(random, rows * n, format);
            var x = RandomArray(random, n * tokens);
            var start = RandomArray(random, rows * tokens);
            fixed (ushort* b1 = bits1, b3 = bits3)
            fixed (float* f1 = floats1, f3 = floats3)
            {
                var w16 = Matrix(b1, format, rows, n);
                var w16b = Matrix(b3, format, rows, n);
                var w32 = WeightMatrix.F32(f1, rows, n);
                var w32b = WeightMatrix.F32(f3, rows, n);
                foreach (var mode in new[] { Epilogue.Store, Epilogue.Add, Epilogue.SwiGlu })
                {
                    var expected = start.ToArray();
                    var actual = start.ToArray();
                    MatMul.Single(mode, x, tokens, w32, w32b, expected, scratch, width);
                    MatMul.Single(mode, x, tokens, w16, w16b, actual, scratch, width);
                    Bitwise.AssertEqual(expected, actual, $"{format} {mode}, width {width}, n {n}, rows {rows}, tokens {tokens}");
                }

                var (q32, k32, v32) = (new float[rows * tokens], new float[rows * tokens], new float[rows * tokens]);
                var (q16, k16, v16) = (new float[rows * tokens], new float[rows * tokens], new float[rows * tokens]);
                MatMul.Gemm3(x, tokens, w32, q32, w32b, k32, w32, v32, scratch, width);
                MatMul.Gemm3(x, tokens, w16, q16, w16b, k16, w16, v16, scratch, width);
                Bitwise.AssertEqual([.. q32, .. k32, .. v32], [.. q16, .. k16, .. v16], $"{format} q, k, v, width {width}, n {n}, tokens {tokens}");
            }
        }
    }

    [Fact]
    public void Every_half_widens_to_the_runtime_s_conversion_at_every_width()
    {
        var all = new ushort[65536];
        for (int i = 0; i < all.Length; i++) all[i] = (ushort)i;
        var expected = all.Select(h => (float)BitConverter.UInt16BitsToHalf(h)).ToArray();
        var got = new float[all.Length];
        foreach (int width in new[] { 16, 8, 4 })
        {
            fixed (ushort* p = all)
            fixed (float* g = got)
                for (int i = 0; i < all.Length; i += width)
                {
                    if (width == 16) Widening.Halfx16(p + i).Store(g + i);
                    else if (width == 8) Widening.Halfx8(p + i).Store(g + i);
                    else Widening.Halfx4(p + i).Store(g + i);
                }
            for (int i = 0; i < all.Length; i++)
                if (BitConverter.SingleToUInt32Bits(expected[i]) != BitConverter.SingleToUInt32Bits(got[i]))
                    Assert.Fail($"width {width}: half 0x{i:X4} gave {got[i]:R}, expected {expected[i]:R}");
        }
    }

    [Fact]
    public void A_sixteen_bit_row_reads_as_its_widened_values()
    {
        var (bits, floats) = RandomWeights(new Random(5), 3 * 40, WeightFormat.F16);
        var row = new float[40];
        fixed (ushort* p = bits)
            WeightMatrix.F16(p, 3, 40).ReadRow(2, row);
        Bitwise.AssertEqual(floats.AsSpan(80, 40), row, "row 2");
        Assert.Equal(3 * 40 * 2, WeightMatrix.F16(null, 3, 40).Bytes);
    }
}

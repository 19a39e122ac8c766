using Llama2.Training.Kernels;

namespace Llama2.Training.Tests;

/// <summary>
/// The trainer's matrix kernel at every rung of the vector ladder (16, 8, 4, 1 floats), for A read directly and
/// transposed, with and without accumulation and for each causal triangle: against a double-precision product, and
/// bit for bit the same at every width (each element is one chain of fused multiply-adds in order).
/// </summary>
public sealed unsafe class GemmTests
{
    [Theory]
    [InlineData(13, 70, 40, false, "None")] // 4-vector strips, a 1–3 vector strip, a scalar tail, a leftover row
    [InlineData(8, 16, 5, true, "None")]    // accumulate into C
    [InlineData(37, 37, 20, false, "LowerColumns")]
    [InlineData(37, 20, 37, false, "SumUpToRow")]
    [InlineData(37, 20, 37, true, "SumFromRow")]
    [InlineData(1, 3, 1, false, "None")]
    public void ProductMatchesDoublePrecisionAndIsTheSameAtEveryWidth(int m, int n, int k, bool accumulate, string triangleName)
    {
        var triangle = Enum.Parse<Triangle>(triangleName);
        foreach (bool transposedA in new[] { false, true })
        {
            var random = new Random(m * 1000 + n * 10 + k);
            float[] a = GradientCheck.RandomFloats(random, m * k), b = GradientCheck.RandomFloats(random, k * n), c0 = GradientCheck.RandomFloats(random, m * n);
            // Zero A's entries that the triangle skips, as attention's probabilities are.
            for (int i = 0; i < m; i++)
                for (int p = 0; p < k; p++)
                    if ((triangle == Triangle.SumUpToRow && p > i) || (triangle == Triangle.SumFromRow && p < i))
                        a[transposedA ? p * m + i : i * k + p] = 0f;
            long aRow = transposedA ? 1 : k, aCol = transposedA ? m : 1;

            float[]? first = null;
            foreach (int width in new[] { 16, 8, 4, 1 })
            {
                var c = (float[])c0.Clone();
                fixed (float* pa = a, pb = b, pc = c)
                    Gemm.Run(new GemmOperands(m, n, k, pa, aRow, aCol, pb, n, pc, n, accumulate, triangle), width);
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++)
                    {
                        if (triangle == Triangle.LowerColumns && j > i)
                        {
                            // Not written past the vector holding the tile's last row (6 rows a tile); before, garbage.
                            if (j >= ((i / Gemm.Rows + 1) * Gemm.Rows + width - 1) / width * width) Assert.Equal(c0[i * n + j], c[i * n + j]);
                            c[i * n + j] = 0f; // left out of the comparison between widths
                            continue;
                        }
                        double expected = accumulate ? c0[i * n + j] : 0;
                        for (int p = 0; p < k; p++) expected += (double)a[i * aRow + p * aCol] * b[p * n + j];
                        Assert.True(Math.Abs(c[i * n + j] - expected) <= 1e-5 * (1 + Math.Abs(expected)),
                            $"width {width}, A{(transposedA ? "ᵀ" : "")}: C[{i}, {j}] = {c[i * n + j]}, expected {expected}");
                    }
                first ??= c;
                Assert.Equal(first, c);
            }
        }
    }

    [Fact]
    public void ASumSplitIntoAccumulatingCallsGivesTheBitsOfOneCall()
    {
        const int m = 7, n = 33, k = 50;
        var random = new Random(3);
        float[] a = GradientCheck.RandomFloats(random, m * k), b = GradientCheck.RandomFloats(random, k * n);
        float[] whole = new float[m * n], split = new float[m * n];
        fixed (float* pa = a, pb = b, pw = whole, ps = split)
        {
            // dW += dyᵀ x over 50 tokens at once, and over tokens 0–19 then 20–49.
            Gemm.Run(new GemmOperands(m, n, k, pa, 1, m, pb, n, pw, n, accumulate: false), 16);
            Gemm.Run(new GemmOperands(m, n, 20, pa, 1, m, pb, n, ps, n, accumulate: false), 16);
            Gemm.Run(new GemmOperands(m, n, 30, pa + 20 * m, 1, m, pb + 20 * n, n, ps, n, accumulate: true), 16);
        }
        Assert.Equal(whole, split);
    }

    [Fact]
    public void ALongSumRunInBlocksAcrossThreadsGivesTheBitsOfOneSerialPass()
    {
        const int m = 20, n = 40, k = 1100; // dW += dyᵀ x over 1100 tokens: blocks of 256 terms
        var random = new Random(4);
        float[] a = GradientCheck.RandomFloats(random, k * m), b = GradientCheck.RandomFloats(random, k * n), c0 = GradientCheck.RandomFloats(random, m * n);
        float[] blocked = (float[])c0.Clone(), serial = (float[])c0.Clone();
        fixed (float* pa = a, pb = b, pc = blocked, ps = serial)
        {
            Gemm.Run(new GemmOperands(m, n, k, pa, 1, m, pb, n, pc, n, accumulate: true), 16);
            Gemm.RunSerial(new GemmOperands(m, n, k, pa, 1, m, pb, n, ps, n, accumulate: true), 16);
        }
        Assert.Equal(serial, blocked);
    }

    [Fact]
    public void AWideProductRunInPanelsOfColumnsGivesTheBitsOfRowTilesOverAllColumns()
    {
        const int m = 13, n = 1100, k = 9; // logits of a large vocabulary: panels of 256 columns, the last one partial
        var random = new Random(5);
        float[] a = GradientCheck.RandomFloats(random, m * k), b = GradientCheck.RandomFloats(random, k * n);
        float[] panels = new float[m * n], serial = new float[m * n];
        fixed (float* pa = a, pb = b, pc = panels, ps = serial)
        {
            Gemm.Run(new GemmOperands(m, n, k, pa, k, 1, pb, n, pc, n, accumulate: false), 16);
            Gemm.RunSerial(new GemmOperands(m, n, k, pa, k, 1, pb, n, ps, n, accumulate: false), 16);
        }
        Assert.Equal(serial, panels);
        for (int i = 0; i < m; i += 5)
            for (int j = 0; j < n; j += 97)
            {
                double expected = 0;
                for (int p = 0; p < k; p++) expected += (double)a[i * k + p] * b[p * n + j];
                Assert.Equal(expected, panels[i * n + j], 1e-5);
            }
    }
}

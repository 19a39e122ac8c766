namespace Llama2.Training.Tests;

/// <summary>Central finite differences of a double-precision function, and the comparison of a float gradient against them.</summary>
static class GradientCheck
{
    const double Step = 1e-5;

    /// <summary>∂f/∂x[i] for every i, by (f(x + h e_i) − f(x − h e_i)) / 2h; x is restored.</summary>
    public static double[] Numerical(Func<double[], double> f, double[] x, IEnumerable<int>? indices = null)
    {
        var gradient = new double[x.Length];
        foreach (int i in indices ?? Enumerable.Range(0, x.Length))
        {
            double saved = x[i];
            x[i] = saved + Step;
            double plus = f(x);
            x[i] = saved - Step;
            double minus = f(x);
            x[i] = saved;
            gradient[i] = (plus - minus) / (2 * Step);
        }
        return gradient;
    }

    /// <summary>
    /// Every checked element of the float gradient within <paramref name="tolerance"/> × (the largest |numerical| of the
    /// tensor) of the numerical one. A wrong index or a missing term is off by the gradient's own size; float rounding
    /// by about 1e-7 of it (measured), so 1e-5 leaves a hundredfold margin.
    /// </summary>
    public static void AssertClose(string name, ReadOnlySpan<float> analytic, double[] numerical, double tolerance = 1e-5, IEnumerable<int>? indices = null)
    {
        var checkedIndices = (indices ?? Enumerable.Range(0, numerical.Length)).ToArray();
        double scale = checkedIndices.Max(i => Math.Abs(numerical[i]));
        Assert.True(scale > 1e-8, $"{name}: the numerical gradient is all zero, so the check would prove nothing");
        double worst = 0;
        int worstAt = -1;
        foreach (int i in checkedIndices)
        {
            double error = Math.Abs(analytic[i] - numerical[i]);
            if (error > worst) (worst, worstAt) = (error, i);
        }
        Assert.True(worst <= tolerance * scale,
            $"{name}: gradient [{worstAt}] is {analytic[worstAt]:G9}, finite differences give {numerical[worstAt]:G9} (error {worst / scale:E2} of the largest {scale:G4})");
    }

    /// <summary>Values of a float computation within <paramref name="tolerance"/> × max |expected| of the double reference.</summary>
    public static void AssertValuesClose(string name, ReadOnlySpan<float> actual, double[] expected, double tolerance = 1e-5)
    {
        double scale = Math.Max(1e-30, expected.Max(Math.Abs));
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(actual[i] - expected[i]) <= tolerance * scale,
                $"{name}[{i}] is {actual[i]:G9}, the double-precision reference gives {expected[i]:G9} (scale {scale:G4})");
    }

    public static double[] ToDouble(ReadOnlySpan<float> x)
    {
        var d = new double[x.Length];
        for (int i = 0; i < x.Length; i++) d[i] = x[i];
        return d;
    }

    public static float[] RandomFloats(Random random, int count, float scale = 1f)
    {
        var x = new float[count];
        for (int i = 0; i < count; i++) x[i] = scale * (float)(random.NextDouble() * 2 - 1);
        return x;
    }

    /// <summary>Σ a ⊙ b: the scalar whose gradient with respect to y is dy, for y = f(inputs).</summary>
    public static double Dot(double[] a, float[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }
}

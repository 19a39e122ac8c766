namespace Llama2.Training.Tests.Reference;

/// <summary>
/// The model's operations in double precision, written as plainly as model.py states them (no blocking, no SIMD, no
/// threads): the oracle the float kernels are checked against, and the function whose central finite differences
/// give the true gradients.
/// </summary>
static class ReferenceOps
{
    /// <summary>y (tokens × d) = x (tokens × n) · Wᵀ, W d × n.</summary>
    public static double[] Linear(double[] x, double[] w, int tokens, int n, int d)
    {
        var y = new double[tokens * d];
        for (int t = 0; t < tokens; t++)
            for (int i = 0; i < d; i++)
            {
                double s = 0;
                for (int k = 0; k < n; k++) s += x[t * n + k] * w[i * n + k];
                y[t * d + i] = s;
            }
        return y;
    }

    public static double[] RmsNorm(double[] x, double[] w, int tokens, int dim)
    {
        var y = new double[tokens * dim];
        for (int t = 0; t < tokens; t++)
        {
            double ss = 0;
            for (int i = 0; i < dim; i++) ss += x[t * dim + i] * x[t * dim + i];
            double r = 1 / Math.Sqrt(ss / dim + 1e-5);
            for (int i = 0; i < dim; i++) y[t * dim + i] = x[t * dim + i] * r * w[i];
        }
        return y;
    }

    /// <summary>Pair (2i, 2i + 1) of each head rotated by pos · 10000^(−2i / headSize), row t at position t mod seqLen.</summary>
    public static double[] Rope(double[] x, int tokens, int width, int headSize, int seqLen)
    {
        var y = (double[])x.Clone();
        for (int t = 0; t < tokens; t++)
            for (int h = 0; h < width; h += headSize)
                for (int i = 0; i < headSize / 2; i++)
                {
                    double angle = t % seqLen * Math.Pow(10000, -2.0 * i / headSize);
                    double c = Math.Cos(angle), s = Math.Sin(angle);
                    int o = t * width + h + 2 * i;
                    double v0 = x[o], v1 = x[o + 1];
                    y[o] = v0 * c - v1 * s;
                    y[o + 1] = v0 * s + v1 * c;
                }
        return y;
    }

    /// <summary>Causal attention, query head h reading key/value head h / (heads / kvHeads).</summary>
    public static double[] Attention(double[] q, double[] k, double[] v, int sequences, int seqLen, int heads, int kvHeads, int headSize)
    {
        int dim = heads * headSize, kvDim = kvHeads * headSize;
        var o = new double[sequences * seqLen * dim];
        var p = new double[seqLen];
        for (int b = 0; b < sequences; b++)
            for (int h = 0; h < heads; h++)
            {
                int g = h / (heads / kvHeads);
                for (int t = 0; t < seqLen; t++)
                {
                    double max = double.NegativeInfinity;
                    for (int s = 0; s <= t; s++)
                    {
                        double dot = 0;
                        for (int i = 0; i < headSize; i++)
                            dot += q[(b * seqLen + t) * dim + h * headSize + i] * k[(b * seqLen + s) * kvDim + g * headSize + i];
                        p[s] = dot / Math.Sqrt(headSize);
                        max = Math.Max(max, p[s]);
                    }
                    double sum = 0;
                    for (int s = 0; s <= t; s++) sum += p[s] = Math.Exp(p[s] - max);
                    for (int i = 0; i < headSize; i++)
                    {
                        double acc = 0;
                        for (int s = 0; s <= t; s++) acc += p[s] / sum * v[(b * seqLen + s) * kvDim + g * headSize + i];
                        o[(b * seqLen + t) * dim + h * headSize + i] = acc;
                    }
                }
            }
        return o;
    }

    public static double[] SwiGlu(double[] h1, double[] h3)
    {
        var g = new double[h1.Length];
        for (int i = 0; i < g.Length; i++) g[i] = h1[i] / (1 + Math.Exp(-h1[i])) * h3[i];
        return g;
    }

    /// <summary>Each row's cross-entropy against its target.</summary>
    public static double[] CrossEntropy(double[] logits, int[] targets, int vocab)
    {
        var losses = new double[targets.Length];
        for (int r = 0; r < targets.Length; r++)
        {
            double max = double.NegativeInfinity;
            for (int j = 0; j < vocab; j++) max = Math.Max(max, logits[r * vocab + j]);
            double sum = 0;
            for (int j = 0; j < vocab; j++) sum += Math.Exp(logits[r * vocab + j] - max);
            losses[r] = Math.Log(sum) + max - logits[r * vocab + targets[r]];
        }
        return losses;
    }

    public static double[] Add(double[] a, double[] b)
    {
        var c = new double[a.Length];
        for (int i = 0; i < c.Length; i++) c[i] = a[i] + b[i];
        return c;
    }
}

using System.Diagnostics;
using System.Globalization;
using Llama2.Engine.Inference;
using Llama2.Engine.Model;

namespace Llama2.Bench;

/// <summary>
/// <c>Llama2.Bench shift</c>: the cost and the accuracy of one context shift on a full window of a shape's random
/// checkpoint, by the two ways of moving the kept tokens down. The engine's way feeds them again at their new positions
/// (a prefill of the kept span); the other keeps their values and re-rotates their cached keys by −Δ (llama.cpp's
/// K-shift), measured here only. Accuracy is against the definition of a correct shift: the logits of a fresh
/// sequence fed the kept tokens at their new positions, then the next token.
/// </summary>
static class ContextShiftCost
{
    public const string Usage = "usage: Llama2.Bench shift [--shapes 110M] [--runs 5] [--threads N] [--dir PATH]";

    public static int Run(string[] args)
    {
        var (options, exitCode) = BenchOptions.Parse(args, Usage, defaultShapes: ["110M"]);
        if (options is null) return exitCode;
        if (options.Threads is { } threads) Engine.Kernels.Workers.ThreadCount = threads;
        Console.WriteLine($"Llama2.Bench shift: {Environment.ProcessorCount} cores, {Engine.Kernels.Workers.ThreadCount} threads, " +
            $"kernels {Engine.Kernels.Simd.Name}, .NET {Environment.Version}, {options.Runs} runs");
        var rows = new List<string[]>();
        foreach (var shape in options.Shapes) rows.Add(Measure(shape, Shapes.EnsureCheckpoint(shape, options.Directory), options.Runs));
        Console.WriteLine();
        Console.WriteLine("| shape | window: kept + dropped + moved | recompute ms (median, min–max) | re-rotate ms (median, min–max) | decode step ms | recompute / decode step | recompute / dropped × decode step | recompute logits error | re-rotate logits error | re-rotate layer-0 keys error |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (var row in rows) Console.WriteLine("| " + string.Join(" | ", row) + " |");
        Console.WriteLine("recompute / decode step: the shift in decode steps of the same run (median of the runs' ratios); / dropped × decode " +
            "step: what it adds to the decode of the tokens until the next shift");
        Console.WriteLine("errors: max |a − b| / max |b| against a fresh sequence fed the kept tokens at their new positions");
        return 0;
    }

    static string[] Measure(string shape, string path, int runs)
    {
        using var checkpoint = Checkpoint.Open(path);
        var transformer = new Transformer(checkpoint);
        var c = transformer.Config;
        int context = c.SeqLen, keep = 1, drop = (context - keep) / 2, moved = context - keep - drop;
        var random = new Random(42);
        var window = Enumerable.Range(0, context).Select(_ => random.Next(3, c.VocabSize)).ToArray();
        window[0] = 1; // BOS, the kept token
        int next = random.Next(3, c.VocabSize);
        int[] kept = [.. window[..keep], .. window[(keep + drop)..]];
        Console.Error.WriteLine($"{shape}: {c}; window {context} = keep {keep} + drop {drop} + move {moved}");

        var state = transformer.CreateState();
        var fresh = transformer.CreateState();
        float[] expected = transformer.Prefill([.. kept, next], 0, fresh).ToArray();

        var recompute = new List<double>();
        var rerotate = new List<double>();
        var decode = new List<double>();
        var inSteps = new List<double>();
        var overhead = new List<double>();
        double recomputeError = 0, rerotateError = 0, keyError = 0;
        var clock = new Stopwatch();
        var steps = new double[DecodeSteps];
        for (int run = -1; run < runs; run++) // run −1 warms up
        {
            transformer.Prefill(window, 0, state);
            clock.Restart();
            transformer.Prefill(kept.AsSpan(keep), keep, state); // the engine's shift: the moved tokens fed again
            double recomputeMs = clock.Elapsed.TotalMilliseconds;
            recomputeError = Math.Max(recomputeError, RelativeError(transformer.Forward(next, kept.Length, state), expected));
            // Decode steps right after, at the positions the sequence goes on from, for the scale of the shift.
            for (int i = 0, token = next; i < DecodeSteps; i++)
            {
                clock.Restart();
                token = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(transformer.Forward(token, kept.Length + 1 + i, state));
                steps[i] = clock.Elapsed.TotalMilliseconds;
            }
            double decodeMs = Median([.. steps]);

            transformer.Prefill(window, 0, state);
            clock.Restart();
            ReRotate(state, keep, drop, moved);
            double rerotateMs = clock.Elapsed.TotalMilliseconds;
            keyError = Math.Max(keyError, RelativeError(
                state.KeyCache.AsSpan(0, kept.Length * c.KvDim), fresh.KeyCache.AsSpan(0, kept.Length * c.KvDim)));
            rerotateError = Math.Max(rerotateError, RelativeError(transformer.Forward(next, kept.Length, state), expected));
            if (run < 0) continue;
            recompute.Add(recomputeMs);
            rerotate.Add(rerotateMs);
            decode.Add(decodeMs);
            inSteps.Add(recomputeMs / decodeMs);
            overhead.Add(recomputeMs / (drop * decodeMs));
            Console.Error.WriteLine($"  run {run + 1}: recompute {recomputeMs:F1} ms, re-rotate {rerotateMs:F2} ms, decode step {decodeMs:F1} ms (median of {DecodeSteps})");
        }
        return
        [
            $"{shape} ({c.Dim}/{c.NLayers}/{c.NHeads}, seq {c.SeqLen})",
            $"{context}: {keep} + {drop} + {moved}",
            Summary(recompute), Summary(rerotate), Summary(decode),
            string.Create(CultureInfo.InvariantCulture, $"×{Median(inSteps):F1}"),
            string.Create(CultureInfo.InvariantCulture, $"{Median(overhead):P1}"),
            Scientific(recomputeError), Scientific(rerotateError), Scientific(keyError),
        ];
    }

    const int DecodeSteps = 16;

    /// <summary>
    /// llama.cpp's K-shift: moves the cache rows of the kept tokens down by <paramref name="drop"/> positions and turns
    /// each key pair back by drop · θ_i (the angles in double), values as they are.
    /// </summary>
    static void ReRotate(RunState state, int keep, int drop, int moved)
    {
        var c = state.Config;
        int pairs = c.HeadSize / 2;
        var cos = new float[pairs];
        var sin = new float[pairs];
        for (int i = 0; i < pairs; i++)
        {
            double angle = -drop * Math.Pow(10000.0, -2.0 * i / c.HeadSize);
            cos[i] = (float)Math.Cos(angle);
            sin[i] = (float)Math.Sin(angle);
        }
        for (int layer = 0; layer < c.NLayers; layer++)
        {
            for (int t = 0; t < moved; t++)
            {
                state.Value(layer, keep + drop + t).CopyTo(state.Value(layer, keep + t));
                var key = state.Key(layer, keep + t);
                state.Key(layer, keep + drop + t).CopyTo(key);
                for (int head = 0; head < key.Length; head += c.HeadSize)
                    for (int i = 0; i < pairs; i++)
                    {
                        float k0 = key[head + 2 * i], k1 = key[head + 2 * i + 1];
                        key[head + 2 * i] = k0 * cos[i] - k1 * sin[i];
                        key[head + 2 * i + 1] = k0 * sin[i] + k1 * cos[i];
                    }
            }
        }
    }

    static double RelativeError(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
    {
        double worst = 0, scale = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs(actual[i] - expected[i]));
            scale = Math.Max(scale, Math.Abs(expected[i]));
        }
        return worst / scale;
    }

    static double Median(IReadOnlyList<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    static string Summary(List<double> values) =>
        string.Create(CultureInfo.InvariantCulture, $"{Median(values):F1} ({values.Min():F1}–{values.Max():F1})");

    static string Scientific(double value) => value.ToString("0.0e0", CultureInfo.InvariantCulture);
}

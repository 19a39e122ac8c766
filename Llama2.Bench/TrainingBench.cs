using System.Diagnostics;
using System.Globalization;
using Llama2.Engine.Kernels;
using Llama2.Training;
using Llama2.Training.Batches;
using Llama2.Training.Diagnostics;
using Llama2.Training.Model;

namespace Llama2.Bench;

/// <summary>
/// Training speed: optimiser steps (forward, backward, clipping, AdamW) on random tokens, in tokens per second. The
/// default shape is the one the training issue compares with PyTorch: dim 128, 4 layers, 4 heads, hidden 384,
/// vocabulary 512, sequences of 128, batch 16, 2 threads.
/// </summary>
static class TrainingBench
{
    public const string Usage =
        "usage: Llama2.Bench train [--dim 128] [--layers 4] [--heads 4] [--kv-heads 4] [--hidden 384] [--vocab 512] [--seq 128]\n" +
        "                          [--batch 16] [--threads 2] [--steps 10] [--runs 5] [--profile] [--reference COMMAND]\n" +
        "  --profile: also the time of each operation in a step (timed where it is dispatched, so a parallel one counts once)\n" +
        "  --reference: a program that trains the same model (e.g. a PyTorch one), run by /bin/sh after each of our runs;\n" +
        "               the last 'N tokens/s' it prints is its rate, and each of our runs is compared with the one after it";

    public static int Run(string[] args)
    {
        int dim = 128, layers = 4, heads = 4, kvHeads = 4, hidden = 384, vocab = 512, seq = 128, batch = 16, threads = 2, steps = 10, runs = 5;
        bool profile = false;
        string? reference = null;
        try
        {
            for (int i = 0; i < args.Length; i++)
            {
                string option = args[i];
                if (option is "--help" or "-h")
                {
                    Console.WriteLine(Usage);
                    return 0;
                }
                if (option == "--profile")
                {
                    profile = true;
                    continue;
                }
                string value = i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{option} needs a value");
                if (option == "--reference")
                {
                    reference = value;
                    continue;
                }
                int n = int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int parsed) && parsed > 0 ? parsed
                    : throw new ArgumentException($"{option}: '{value}' is not a positive whole number");
                switch (option)
                {
                    case "--dim": dim = n; break;
                    case "--layers": layers = n; break;
                    case "--heads": heads = n; break;
                    case "--kv-heads": kvHeads = n; break;
                    case "--hidden": hidden = n; break;
                    case "--vocab": vocab = n; break;
                    case "--seq": seq = n; break;
                    case "--batch": batch = n; break;
                    case "--threads": threads = n <= Workers.MaxThreads ? n : throw new ArgumentException($"--threads must be 1 to {Workers.MaxThreads}"); break;
                    case "--steps": steps = n; break;
                    case "--runs": runs = n; break;
                    default: throw new ArgumentException($"unknown option {option}");
                }
            }
            ModelShape.Create(dim, layers, heads, kvHeads, vocab, seq, hiddenDim: hidden);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine(e.Message);
            Console.Error.WriteLine(Usage);
            return 2;
        }

        Workers.ThreadCount = threads;
        var options = new TrainingOptions
        {
            Dim = dim, Layers = layers, Heads = heads, KvHeads = kvHeads, HiddenDim = hidden, VocabSize = vocab, SeqLen = seq,
            BatchSize = batch, MaxSteps = 1_000_000, WarmupSteps = 10, TrainTokens = "(random)",
        };
        var model = new TrainingModel(options.ModelConfig(), batch);
        var random = new TrainingRandom(options.Seed);
        model.Initialize(ref random);
        var trainer = new Trainer(model, options);
        var tokenRandom = new Random(1);
        var tokens = new TokenArray(Enumerable.Range(0, 1 << 20).Select(_ => tokenRandom.Next(vocab)).ToArray());
        var batches = new BatchSampler(tokens, batch, seq, new TrainingRandom(1));
        long tokensPerStep = (long)batch * seq;
        Console.WriteLine($"Llama2.Bench train: {model.Config}, {model.Parameters.Length:N0} parameters, batch {batch} × {seq} tokens, " +
            $"{Workers.ThreadCount} threads, kernels {Simd.Name}, .NET {Environment.Version}, {runs} runs of {steps} steps");

        // Warm-up: the JIT's final tiers.
        var warmUp = Stopwatch.StartNew();
        while (warmUp.Elapsed < TimeSpan.FromSeconds(3) || trainer.Step < 5) trainer.TrainStep(batches);

        var rates = new List<double>();
        var ratios = new List<double>();
        var clockAll = new Stopwatch();
        OperationTimes.Enabled = profile;
        OperationTimes.Reset();
        for (int run = 0; run < runs; run++)
        {
            var clock = new Stopwatch();
            long allocated = GC.GetTotalAllocatedBytes(precise: true);
            clock.Start();
            clockAll.Start();
            StepResult last = default;
            for (int s = 0; s < steps; s++) last = trainer.TrainStep(batches);
            clockAll.Stop();
            double seconds = clock.Elapsed.TotalSeconds;
            allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;
            clock.Stop();
            rates.Add(steps * tokensPerStep / seconds);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  run {run + 1}: {rates[^1]:F0} tokens/s ({seconds * 1000 / steps:F1} ms a step, loss {last.Loss:F4}, {allocated / steps} bytes allocated a step)"));
            if (reference is not null && ReferenceRate(reference) is { } rate)
            {
                ratios.Add(rates[^1] / rate);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  reference right after: {rate:F0} tokens/s (ours ×{ratios[^1]:F2})"));
            }
        }
        rates.Sort();
        double median = rates.Count % 2 == 1 ? rates[rates.Count / 2] : (rates[rates.Count / 2 - 1] + rates[rates.Count / 2]) / 2;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"training tokens/s: median {median:F0} (min {rates[0]:F0}, max {rates[^1]:F0})"));
        if (ratios.Count > 0)
        {
            ratios.Sort();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"against the reference run after each: median ×{ratios[ratios.Count / 2]:F2} (min ×{ratios[0]:F2}, max ×{ratios[^1]:F2}, {ratios.Count} pairs)"));
        }
        if (profile) PrintProfile(model, runs * steps, tokensPerStep, clockAll.Elapsed);
        return 0;
    }

    /// <summary>Each operation's time per step and share; the linear layers' products also in GFLOP/s.</summary>
    static void PrintProfile(TrainingModel model, int steps, long tokensPerStep, TimeSpan total)
    {
        var c = model.Config;
        // Multiply-adds per token of one product of every weight matrix, the tied classifier included.
        double macsPerToken = c.NLayers * ((double)c.Dim * (2 * c.Dim + 2 * c.KvDim) + 3.0 * c.Dim * c.HiddenDim) + (double)c.Dim * c.VocabSize;
        double stepMs = total.TotalMilliseconds / steps, accounted = 0;
        Console.WriteLine();
        Console.WriteLine("| operation | ms a step | share | calls a step | GFLOP/s |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (var (operation, time, calls) in OperationTimes.Totals())
        {
            double ms = time.TotalMilliseconds / steps;
            accounted += ms;
            string rate = operation is Operation.LinearForward or Operation.LinearBackwardInput or Operation.LinearBackwardWeight
                ? (2 * macsPerToken * tokensPerStep / (ms / 1000) / 1e9).ToString("F1", CultureInfo.InvariantCulture) : "";
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {operation} | {ms:F2} | {ms / stepMs:P1} | {(double)calls / steps:F0} | {rate} |"));
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| other (copies, batches, dispatch) | {stepMs - accounted:F2} | {(stepMs - accounted) / stepMs:P1} | | |"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| step | {stepMs:F2} | 100% | | |"));
        // The ceiling of the products' rate right now (other processes on the machine move it).
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"FMA peak of the kernel threads just after: {FmaPeak.Measure() / 1e9:F0} GFLOP/s"));
    }

    /// <summary>The last "N tokens/s" the reference command prints, or null (said on stderr) if it prints none or fails.</summary>
    static double? ReferenceRate(string command)
    {
        var start = new ProcessStartInfo("/bin/sh") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(command);
        using var process = Process.Start(start)!;
        var errors = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        string stderr = errors.Result; // read whole before our next run, so nothing of it is left running then
        var matches = System.Text.RegularExpressions.Regex.Matches(output, @"([0-9]+(?:\.[0-9]+)?) tokens/s");
        if (process.ExitCode == 0 && matches.Count > 0)
            return double.Parse(matches[^1].Groups[1].Value, CultureInfo.InvariantCulture);
        Console.Error.WriteLine($"  the reference exited with {process.ExitCode} without a rate: {stderr.Trim()}");
        return null;
    }
}

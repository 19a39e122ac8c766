using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using Llama2.Bench;
using Llama2.Bench.LoadTest;
using Llama2.Engine.Inference;
using Llama2.Engine.Kernels;
using Llama2.Engine.Model;

// Llama2.Bench: decode and prefill speed on seeded random-weight checkpoints of the TinyStories shapes.
//   dotnet run -c Release --project Llama2.Bench -- [--shapes 15M,42M,110M] [--tokens 256] [--prompt 128]
//                                                    [--threads N] [--runs 5] [--dir PATH] [--runc PATH]
//   dotnet run -c Release --project Llama2.Bench -- micro [BenchmarkDotNet options]   (kernel micro-benchmarks)
//   dotnet run -c Release --project Llama2.Bench -- train [--help]                 (training tokens/s, the trainer's steps)
//   dotnet run -c Release --project Llama2.Bench -- shift [--shapes 110M] [--runs 5]   (the cost of one context shift)
//   dotnet run -c Release --project Llama2.Bench -- loadtest [--url http://127.0.0.1:8080] [--clients 8] ... [--help]
//                                                    (N streaming clients against a running Llama2.Server)

if (args.Length > 0 && args[0] == "micro")
    return Micro.Run(args[1..]);
if (args.Length > 0 && args[0] == "train")
    return TrainingBench.Run(args[1..]);
if (args.Length > 0 && args[0] == "shift")
    return ContextShiftCost.Run(args[1..]);
if (args.Length > 0 && args[0] == "loadtest")
    return await LoadTestRunner.RunAsync(args[1..]);

var (options, exitCode) = BenchOptions.Parse(args);
if (options is null) return exitCode;
if (options.Threads is { } threads) Workers.ThreadCount = threads;

Console.WriteLine($"Llama2.Bench: {Environment.ProcessorCount} cores, {Workers.ThreadCount} threads, kernels {Simd.Name}, " +
    $".NET {Environment.Version}, {options.Runs} runs, decode {options.Tokens} tokens, prefill {options.Prompt}-token prompt");
Console.WriteLine($"checkpoints in {options.Directory}; load average before: {LoadAverage()}");

var rows = new List<string[]>();
foreach (var shape in options.Shapes)
{
    string path;
    try
    {
        path = Shapes.EnsureCheckpoint(shape, options.Directory);
    }
    catch (Exception e) when (e is IOException or UnauthorizedAccessException)
    {
        Console.Error.WriteLine($"cannot write the {shape} checkpoint in {options.Directory} (--dir): {e.Message}");
        return 2;
    }
    rows.Add(Measure(shape, path, options));
}

Console.WriteLine();
string[] header = ["shape", "decode tok/s (median, min–max)", "prefill tok/s (median, min–max)", "checkpoint read GB/s", "decode / read", "FMA peak GFLOP/s", "prefill / peak", "peak RSS", "file + KV cache", "GC bytes / token"];
if (options.RunC is not null) header = [.. header, "run.c decode tok/s", "decode / run.c"];
PrintTable(header, rows);
Console.WriteLine($"load average after: {LoadAverage()} (other processes on the machine skew the numbers: rerun when it is idle)");
return 0;

// Linux: 1, 5 and 15-minute load averages; a busy machine shows here.
static string LoadAverage()
{
    try { return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); }
    catch (IOException) { return "n/a"; }
}

static string[] Measure(string shape, string path, BenchOptions o)
{
    ResetPeakRss();
    using var checkpoint = Checkpoint.Open(path);
    var transformer = new Transformer(checkpoint);
    var c = transformer.Config;
    var state = transformer.CreateState();
    int tokens = Math.Min(o.Tokens, c.SeqLen), promptLength = Math.Min(o.Prompt, c.SeqLen);
    var random = new Random(42);
    var prompt = Enumerable.Range(0, promptLength).Select(_ => random.Next(3, c.VocabSize)).ToArray();
    Console.Error.WriteLine($"{shape}: {c}");

    // Warm up for a second or more: the JIT's final tiers (tiered compilation), and the mapped weights paged in.
    var warmUp = Stopwatch.StartNew();
    do
    {
        Decode(transformer, state, tokens);
        transformer.Prefill(prompt, 0, state);
        ReadBandwidth.Measure(checkpoint);
        FmaPeak.Measure();
    } while (warmUp.Elapsed < TimeSpan.FromSeconds(1.5));

    var decode = new List<double>();
    var prefill = new List<double>();
    var bandwidth = new List<double>();
    var peak = new List<double>();
    var runC = new List<double>();
    var versusRunC = new List<double>();
    long allocated = 0;
    var clock = new Stopwatch();
    for (int run = 0; run < o.Runs; run++)
    {
        long before = GC.GetTotalAllocatedBytes(precise: true);
        clock.Restart();
        Decode(transformer, state, tokens);
        double seconds = clock.Elapsed.TotalSeconds;
        long runAllocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        allocated += runAllocated;
        decode.Add(tokens / seconds);
        if (o.RunC?.Decode(path, tokens, Workers.ThreadCount) is { } reference)
        {
            runC.Add(reference);
            versusRunC.Add(decode[^1] / reference);
            Console.Error.WriteLine($"  run {run + 1}: run.c decode {reference:F1} tok/s");
        }

        clock.Restart();
        transformer.Prefill(prompt, 0, state);
        prefill.Add(promptLength / clock.Elapsed.TotalSeconds);
        bandwidth.Add(ReadBandwidth.Measure(checkpoint) / 1e9);
        peak.Add(FmaPeak.Measure() / 1e9);
        Console.Error.WriteLine($"  run {run + 1}: decode {decode[^1]:F1} tok/s, prefill {prefill[^1]:F1} tok/s, {runAllocated} bytes allocated while decoding, " +
            $"checkpoint read at {bandwidth[^1]:F1} GB/s, FMA peak {peak[^1]:F0} GFLOP/s");
    }

    long rss = PeakRss();
    return
    [
        $"{shape} ({c.Dim}/{c.NLayers}/{c.NHeads}, hidden {c.HiddenDim}, seq {c.SeqLen})",
        Summary(decode),
        Summary(prefill),
        Summary(bandwidth),
        // Decode reads the whole file per token (the embedding row aside).
        MedianShare(decode, checkpoint.FileBytes / 1e9, bandwidth),
        Summary(peak),
        // Prefill is the layers' matrix products (attention and the one row of logits are small beside them).
        MedianShare(prefill, LayerFlopsPerToken(c) / 1e9, peak),
        Mib(rss),
        Mib(checkpoint.FileBytes + state.KvCacheBytes),
        ((double)allocated / (o.Runs * (long)tokens)).ToString("F1", CultureInfo.InvariantCulture),
        .. o.RunC is null ? Array.Empty<string>() :
            runC.Count == 0 ? ["n/a", "n/a"] :
            // Each of our runs against the run.c run right after it.
            [Summary(runC), string.Create(CultureInfo.InvariantCulture, $"×{Median(versusRunC):F2}")],
    ];
}

// Multiply-adds of the layers' weight matrices for one token, two flops each.
static double LayerFlopsPerToken(ModelConfig c) =>
    2.0 * c.NLayers * ((double)c.Dim * (2 * c.Dim + 2 * c.KvDim) + 3.0 * c.Dim * c.HiddenDim);

// Greedy decoding from position 0: feed a token, take the argmax, feed it back.
static void Decode(Transformer transformer, RunState state, int tokens)
{
    int token = 1;
    for (int pos = 0; pos < tokens; pos++)
    {
        token = TensorPrimitives.IndexOfMax(transformer.Forward(token, pos, state)); // as the greedy sampler
    }
}

static double Median(List<double> values)
{
    var sorted = values.Order().ToArray();
    return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
}

// Each run's tokens/s × work per token (GB or GFLOP) against the ceiling measured right after it (GB/s or
// GFLOP/s): the median of the runs' shares.
static string MedianShare(List<double> tokensPerSecond, double workPerToken, List<double> ceilings) =>
    string.Create(CultureInfo.InvariantCulture,
        $"{Median(tokensPerSecond.Zip(ceilings, (rate, ceiling) => rate * workPerToken / ceiling).ToList()):P0}");

static string Summary(List<double> values) =>
    string.Create(CultureInfo.InvariantCulture, $"{Median(values):F1} ({values.Min():F1}–{values.Max():F1})");

static string Mib(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024.0):F0} MiB");

// Linux: writing 5 to clear_refs resets the peak resident set size (VmHWM) of the process.
static void ResetPeakRss()
{
    try { File.WriteAllText("/proc/self/clear_refs", "5"); } catch (IOException) { } catch (UnauthorizedAccessException) { }
}

static long PeakRss()
{
    try
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }
    catch (IOException) { }
    return Process.GetCurrentProcess().PeakWorkingSet64;
}

static void PrintTable(string[] header, List<string[]> rows)
{
    Console.WriteLine("| " + string.Join(" | ", header) + " |");
    Console.WriteLine("|" + string.Concat(header.Select(_ => "---|")));
    foreach (var row in rows) Console.WriteLine("| " + string.Join(" | ", row) + " |");
}

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
//                                                    [--threads N] [--runs 5] [--dir PATH] [--quant q8_0]
//                                                    [--runc PATH] [--runq PATH]
//   dotnet run -c Release --project Llama2.Bench -- micro [BenchmarkDotNet options]   (kernel micro-benchmarks)
//   dotnet run -c Release --project Llama2.Bench -- train [--help]                 (training tokens/s, the trainer's steps)
//   dotnet run -c Release --project Llama2.Bench -- shift [--shapes 110M] [--runs 5]   (the cost of one context shift)
//   dotnet run -c Release --project Llama2.Bench -- hf [--shape 7B] [--layers N] [--help]  (a bf16 Hugging Face folder, its int8
//                                                    file and the folder quantized at load: load, decode, prefill, RSS)
//   dotnet run -c Release --project Llama2.Bench -- loadtest [--url http://127.0.0.1:8080] [--clients 8] ... [--help]
//                                                    (N streaming clients against a running Llama2.Server)

if (args.Length > 0 && args[0] == "micro")
    return Micro.Run(args[1..]);
if (args.Length > 0 && args[0] == "train")
    return TrainingBench.Run(args[1..]);
if (args.Length > 0 && args[0] == "shift")
    return ContextShiftCost.Run(args[1..]);
if (args.Length > 0 && args[0] == "hf")
    return ForeignModelBench.Run(args[1..]);
if (args.Length > 0 && args[0] == "loadtest")
    return await LoadTestRunner.RunAsync(args[1..]);

var (options, exitCode) = BenchOptions.Parse(args);
if (options is null) return exitCode;
if (options.Threads is { } threads) Workers.ThreadCount = threads;

Console.WriteLine($"Llama2.Bench: {Environment.ProcessorCount} cores, {Workers.ThreadCount} threads, kernels {Simd.Name}" +
    (options.Int8 ? $", int8 kernels {Q8Simd.Name}" : "") +
    $", .NET {Environment.Version}, {options.Runs} runs, decode {options.Tokens} tokens, prefill {options.Prompt}-token prompt");
Console.WriteLine($"checkpoints in {options.Directory}; load average before: {LoadAverage()}");

var rows = new List<string[]>();
foreach (var shape in options.Shapes)
{
    var formats = new List<FormatRuns>();
    try
    {
        string path = Shapes.EnsureCheckpoint(shape, options.Directory);
        formats.Add(new FormatRuns("f32", path, options.RunC));
        if (options.Int8) formats.Add(new FormatRuns("q8_0", Shapes.EnsureQuantizedCheckpoint(shape, options.Directory, path), options.RunQ));
    }
    catch (Exception e) when (e is IOException or UnauthorizedAccessException)
    {
        Console.Error.WriteLine($"cannot write the {shape} checkpoints in {options.Directory} (--dir): {e.Message}");
        return 2;
    }
    rows.AddRange(Measure(shape, formats, options));
}

Console.WriteLine();
string[] header = ["shape", "weights", "decode tok/s (median, min–max)", "prefill tok/s (median, min–max)", "checkpoint read GB/s", "decode / read", "FMA peak GFLOP/s", "prefill / peak", "peak RSS", "file + KV cache", "GC bytes / token"];
if (options.Int8) header = [.. header, "decode / f32", "prefill / f32"];
if (options.RunC is not null || options.RunQ is not null) header = [.. header, "llama2.c decode tok/s", "decode / llama2.c"];
PrintTable(header, rows);
Console.WriteLine($"load average after: {LoadAverage()} (other processes on the machine skew the numbers: rerun when it is idle)");
return 0;

// Linux: 1, 5 and 15-minute load averages; a busy machine shows here.
static string LoadAverage()
{
    try { return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); }
    catch (IOException) { return "n/a"; }
}

// Each format of a shape: its peak RSS alone first, then all formats measured in turn within every run, so that their
// ratios compare the same minutes. One row per format.
static IEnumerable<string[]> Measure(string shape, List<FormatRuns> formats, BenchOptions o)
{
    var config = Shapes.All[shape];
    int tokens = Math.Min(o.Tokens, config.SeqLen), promptLength = Math.Min(o.Prompt, config.SeqLen);
    var random = new Random(42);
    var prompt = Enumerable.Range(0, promptLength).Select(_ => random.Next(3, config.VocabSize)).ToArray();
    Console.Error.WriteLine($"{shape}: {config}");

    // Peak RSS of each format on its own (int8 first: it has a target), over one decode and one prefill, which also
    // page the weights in and warm the JIT.
    foreach (var f in formats.AsEnumerable().Reverse())
    {
        // What earlier shapes and formats left on the GC heap goes back to the system first.
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        ResetPeakRss();
        using (var checkpoint = Checkpoint.Open(f.Path))
        {
            var transformer = new Transformer(checkpoint);
            var state = transformer.CreateState();
            Decode(transformer, state, tokens);
            transformer.Prefill(prompt, 0, state);
            f.PeakRss = PeakRss();
            f.FilePlusKvCache = checkpoint.FileBytes + state.KvCacheBytes;
        }
    }

    var open = formats.Select(f => (Format: f, Checkpoint: Checkpoint.Open(f.Path))).ToList();
    try
    {
        var models = open.Select(m => (m.Format, m.Checkpoint, Transformer: new Transformer(m.Checkpoint))).ToList();
        var states = models.Select(m => m.Transformer.CreateState()).ToList();

        // Warm up for a second or more: the JIT's final tiers (tiered compilation), and the mapped weights paged in.
        var warmUp = Stopwatch.StartNew();
        do
        {
            for (int i = 0; i < models.Count; i++)
            {
                Decode(models[i].Transformer, states[i], tokens);
                models[i].Transformer.Prefill(prompt, 0, states[i]);
                ReadBandwidth.Measure(models[i].Checkpoint);
            }
            FmaPeak.Measure();
        } while (warmUp.Elapsed < TimeSpan.FromSeconds(1.5));

        var peak = new List<double>();
        var clock = new Stopwatch();
        for (int run = 0; run < o.Runs; run++)
        {
            for (int i = 0; i < models.Count; i++)
            {
                var (f, checkpoint, transformer) = models[i];
                long before = GC.GetTotalAllocatedBytes(precise: true);
                clock.Restart();
                Decode(transformer, states[i], tokens);
                double seconds = clock.Elapsed.TotalSeconds;
                long runAllocated = GC.GetTotalAllocatedBytes(precise: true) - before;
                f.Allocated += runAllocated;
                f.Decode.Add(tokens / seconds);
                if (f.Reference?.Decode(f.Path, tokens, Workers.ThreadCount) is { } reference)
                {
                    f.ReferenceDecode.Add(reference);
                    f.VersusReference.Add(f.Decode[^1] / reference);
                    Console.Error.WriteLine($"  run {run + 1}, {f.Name}: {f.Reference.Name} decode {reference:F1} tok/s");
                }

                clock.Restart();
                transformer.Prefill(prompt, 0, states[i]);
                f.Prefill.Add(promptLength / clock.Elapsed.TotalSeconds);
                f.Bandwidth.Add(ReadBandwidth.Measure(checkpoint) / 1e9);
                Console.Error.WriteLine($"  run {run + 1}, {f.Name}: decode {f.Decode[^1]:F1} tok/s, prefill {f.Prefill[^1]:F1} tok/s, " +
                    $"{runAllocated} bytes allocated while decoding, checkpoint read at {f.Bandwidth[^1]:F1} GB/s");
            }
            peak.Add(FmaPeak.Measure() / 1e9);
            Console.Error.WriteLine($"  run {run + 1}: FMA peak {peak[^1]:F0} GFLOP/s");
        }

        var fp32 = formats[0];
        foreach (var (f, checkpoint, _) in models)
        {
            bool int8 = f.Name != "f32";
            yield return
            [
                $"{shape} ({config.Dim}/{config.NLayers}/{config.NHeads}, hidden {config.HiddenDim}, seq {config.SeqLen})",
                int8 ? $"{f.Name} (group size {checkpoint.Layout.GroupSize})" : f.Name,
                Summary(f.Decode),
                Summary(f.Prefill),
                Summary(f.Bandwidth),
                // Decode reads the whole file per token (the embedding row aside).
                MedianShare(f.Decode, checkpoint.FileBytes / 1e9, f.Bandwidth),
                Summary(peak),
                // Prefill is the layers' matrix products (attention and the one row of logits are small beside them); the
                // FMA peak is fp32's, so only fp32 rows have a share of it.
                int8 ? "–" : MedianShare(f.Prefill, LayerFlopsPerToken(config) / 1e9, peak),
                Mib(f.PeakRss),
                Mib(f.FilePlusKvCache),
                ((double)f.Allocated / (o.Runs * (long)tokens)).ToString("F1", CultureInfo.InvariantCulture),
                .. !o.Int8 ? Array.Empty<string>() :
                    !int8 ? ["", ""] :
                    // Each run's int8 rate against the fp32 rate of the same run.
                    [Ratio(f.Decode.Zip(fp32.Decode, (a, b) => a / b).ToList()), Ratio(f.Prefill.Zip(fp32.Prefill, (a, b) => a / b).ToList())],
                .. o.RunC is null && o.RunQ is null ? Array.Empty<string>() :
                    f.ReferenceDecode.Count == 0 ? ["n/a", "n/a"] :
                    // Each of our runs against the reference run right after it.
                    [$"{Summary(f.ReferenceDecode)} ({f.Reference!.Name})", Ratio(f.VersusReference)],
            ];
        }
    }
    finally
    {
        foreach (var (_, checkpoint) in open) checkpoint.Dispose();
    }
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

static string Ratio(List<double> ratios) => string.Create(CultureInfo.InvariantCulture, $"×{Median(ratios):F2}");

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
                return long.Parse(line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
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

/// <summary>One weight format of a shape: its checkpoint, the llama2.c program to compare it with, and its measurements.</summary>
sealed class FormatRuns(string name, string path, ReferenceProgram? reference)
{
    public string Name => name;
    public string Path => path;
    public ReferenceProgram? Reference => reference;
    public List<double> Decode { get; } = [];
    public List<double> Prefill { get; } = [];
    public List<double> Bandwidth { get; } = [];
    public List<double> ReferenceDecode { get; } = [];
    public List<double> VersusReference { get; } = [];
    public long Allocated { get; set; }
    public long PeakRss { get; set; }
    public long FilePlusKvCache { get; set; }
}

using System.Globalization;
using Llama2.Engine.Kernels;
using Llama2.Engine.Model;
using Llama2.Engine.Progress;

namespace Llama2.Bench;

sealed record BenchOptions(IReadOnlyList<string> Shapes, int Tokens, int Prompt, int? Threads, int Runs, string Directory,
    bool Int8, ReferenceProgram? RunC, ReferenceProgram? RunQ)
{
    public const string Usage =
        "usage: Llama2.Bench [--shapes 15M,42M,110M] [--tokens 256] [--prompt 128] [--threads N] [--runs 5] [--dir PATH]\n" +
        "                    [--quant q8_0] [--runc PATH [--runc-tokenizer PATH]] [--runq PATH [--runq-tokenizer PATH]]\n" +
        "       --quant q8_0: also int8 rows (each shape's checkpoint quantized), measured in turn with the fp32 ones\n" +
        "       --runc / --runq: llama2.c's run / runq binary on the same fp32 / int8 checkpoint after each of our decode runs\n" +
        "       Llama2.Bench micro [BenchmarkDotNet options]   (kernel micro-benchmarks)\n" +
        "       Llama2.Bench train [--help]                    (training tokens/s)\n" +
        "       Llama2.Bench shift [--shapes 110M] [--runs 5]  (the cost of one context shift)\n" +
        "       Llama2.Bench loadtest [--help]                 (streaming clients against a running Llama2.Server)";

    /// <summary>
    /// The options, or null with the exit code: 0 after --help, 2 after a bad option (said on stderr with
    /// <paramref name="usage"/>). A mode of the bench gives its own usage and default shapes.
    /// </summary>
    public static (BenchOptions? Options, int ExitCode) Parse(string[] args, string usage = Usage, IReadOnlyList<string>? defaultShapes = null)
    {
        try
        {
            return (ParseOrThrow(args, defaultShapes ?? ["15M", "42M", "110M"]), 0);
        }
        catch (HelpRequested)
        {
            Console.WriteLine(usage);
            return (null, 0);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine(e.Message);
            Console.Error.WriteLine(usage);
            return (null, 2);
        }
    }

    sealed class HelpRequested : Exception;

    static BenchOptions ParseOrThrow(string[] args, IReadOnlyList<string> defaultShapes)
    {
        var shapes = defaultShapes.ToList();
        int tokens = 256, prompt = 128, runs = 5;
        int? threads = null;
        string? runC = null, runCTokenizer = null, runQ = null, runQTokenizer = null, quant = null;
        string directory = Path.Combine(Path.GetTempPath(), "llama2-bench");
        for (int i = 0; i < args.Length; i++)
        {
            string option = args[i];
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{option} needs a value");
            int Int() => Value() is var v && int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) ? n
                : throw new ArgumentException($"{option}: '{args[i]}' is not a whole number");
            switch (option)
            {
                case "--help" or "-h": throw new HelpRequested();
                case "--shapes": shapes = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList(); break;
                case "--tokens": tokens = Int(); break;
                case "--prompt": prompt = Int(); break;
                case "--threads": threads = Int(); break;
                case "--runs": runs = Int(); break;
                case "--dir": directory = Value(); break;
                case "--runc": runC = Value(); break;
                case "--runc-tokenizer": runCTokenizer = Value(); break;
                case "--runq": runQ = Value(); break;
                case "--runq-tokenizer": runQTokenizer = Value(); break;
                case "--quant": quant = Value(); break;
                default: throw new ArgumentException($"unknown option {option}");
            }
        }
        foreach (var s in shapes)
            if (!Bench.Shapes.All.ContainsKey(s)) throw new ArgumentException($"unknown shape {s}; known: {string.Join(", ", Bench.Shapes.All.Keys)}");
        if (shapes.Count == 0) throw new ArgumentException("--shapes names no shape");
        if (tokens < 1 || prompt < 2 || runs < 1) throw new ArgumentException("--tokens ≥ 1, --prompt ≥ 2, --runs ≥ 1");
        if (threads is < 1 or > Workers.MaxThreads) throw new ArgumentException($"--threads must be 1 to {Workers.MaxThreads}");
        if (quant is not (null or "q8_0")) throw new ArgumentException($"--quant takes q8_0, not '{quant}'");
        if (runQ is not null && quant is null) throw new ArgumentException("--runq runs on the int8 checkpoints: add --quant q8_0");
        var runCReference = runC is null ? null : new ReferenceProgram("run.c", "--runc", runC, runCTokenizer);
        var runQReference = runQ is null ? null : new ReferenceProgram("runq.c", "--runq", runQ, runQTokenizer);
        if ((runCReference?.Problem ?? runQReference?.Problem) is { } problem) throw new ArgumentException(problem);
        return new BenchOptions(shapes, tokens, prompt, threads, runs, directory, quant is not null, runCReference, runQReference);
    }
}

/// <summary>The TinyStories model shapes (vocabulary 32000, classifier shared with the embedding, as the real files).</summary>
static class Shapes
{
    public const int Seed = 1234;

    public static readonly IReadOnlyDictionary<string, ModelConfig> All = new Dictionary<string, ModelConfig>
    {
        ["15M"] = new(Dim: 288, HiddenDim: 768, NLayers: 6, NHeads: 6, NKvHeads: 6, VocabSize: 32000, SeqLen: 256, SharedClassifier: true),
        ["42M"] = new(Dim: 512, HiddenDim: 1376, NLayers: 8, NHeads: 8, NKvHeads: 8, VocabSize: 32000, SeqLen: 1024, SharedClassifier: true),
        ["110M"] = new(Dim: 768, HiddenDim: 2048, NLayers: 12, NHeads: 12, NKvHeads: 12, VocabSize: 32000, SeqLen: 1024, SharedClassifier: true),
    };

    /// <summary>The cached random checkpoint of a shape, written (with a progress line) if it is missing.</summary>
    public static string EnsureCheckpoint(string shape, string directory)
    {
        var config = All[shape];
        string path = Path.Combine(directory, $"random-{shape}-seed{Seed}.bin");
        long expected = new CheckpointLayout(config, version: 0).FileBytes;
        if (File.Exists(path) && new FileInfo(path).Length == expected) return path;

        Directory.CreateDirectory(directory);
        string temporary = path + ".partial";
        var bar = ProgressBar.OnStandardError();
        CheckpointWriter.WriteRandom(temporary, config, version: 0, seed: Seed,
            progress: bar.ForFraction($"writing {shape} random checkpoint ({expected / 1e6:F0} MB)"));
        bar.Complete();
        File.Move(temporary, path, overwrite: true);
        PageCache.Evict(path); // read back in huge pages when mapped, like a file that was not just written
        return path;
    }

    /// <summary>
    /// The int8 (version 2) checkpoint of a shape, quantized from its random fp32 one as <c>Llama2.Cli quantize</c> does
    /// (the default group size, backed off where it must), written with a progress line if it is missing.
    /// </summary>
    public static string EnsureQuantizedCheckpoint(string shape, string directory, string fp32Path)
    {
        var config = All[shape];
        string path = Path.Combine(directory, $"random-{shape}-seed{Seed}-q80.bin");
        int groupSize = CheckpointQuantizer.FitGroupSize(config, CheckpointQuantizer.DefaultGroupSize);
        long expected = new CheckpointLayout(config, version: 2, groupSize).FileBytes;
        if (File.Exists(path) && new FileInfo(path).Length == expected) return path;

        var bar = ProgressBar.OnStandardError();
        CheckpointQuantizer.QuantizeFile(fp32Path, path, groupSize,
            bar.ForFraction($"quantizing {shape} random checkpoint to q8_0 ({expected / 1e6:F0} MB, group size {groupSize})"));
        bar.Complete();
        PageCache.Evict(path);
        return path;
    }
}

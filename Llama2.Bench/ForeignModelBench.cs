using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Llama2.Engine.Formats;
using Llama2.Engine.Inference;
using Llama2.Engine.Kernels;
using Llama2.Engine.Model;
using Llama2.Engine.Progress;

namespace Llama2.Bench;

/// <summary>
/// <c>Llama2.Bench hf</c>: a Llama 2 7B-shaped model (dim 4096, hidden 11008, 32 heads, vocab 32000; --layers fewer to
/// fit a smaller machine) with random weights, written once as a bf16 Hugging Face folder (config.json, two
/// safetensors shards with an index) and quantized from it to a version 2 int8 file, both cached in --dir. Each format
/// is opened on its own first, its pages evicted from the page cache: the time to open it (and, quantized at load, to
/// quantize it), to compute the first token, and its peak RSS. Then greedy decode and prefill tok/s (medians of --runs),
/// the weights' read rate right after each run and decode's share of it, and the managed bytes allocated per token:
/// each format's runs on their own, or with --together every format in turn within each run, with ratios.
/// --shape 110M measures the TinyStories 110M shape instead, with the fp32 .bin of the same (bf16) weights beside it.
/// </summary>
static class ForeignModelBench
{
    public const string Usage =
        "usage: Llama2.Bench hf [--shape 7B|110M] [--layers N] [--tokens 8] [--prompt 32] [--runs 3] [--dir PATH]\n" +
        "                       [--formats bf16,q8_0,bf16-q8_0[,f32]] [--together] [--threads N]\n" +
        "       bf16: the Hugging Face folder served directly; q8_0: the version 2 file quantized from it;\n" +
        "       bf16-q8_0: the folder quantized at load (Model:Quantization=q8_0); f32: the .bin of the same values\n" +
        "       --together: the runs measure every format in turn (all open at once: they must fit in memory), with ratios";

    static readonly ModelConfig SevenB = new(Dim: 4096, HiddenDim: 11008, NLayers: 32, NHeads: 32, NKvHeads: 32, VocabSize: 32000,
        SeqLen: 4096, SharedClassifier: false) { RmsNormEps = 1e-5f };

    public static int Run(string[] args)
    {
        string shape = "7B", directory = Path.Combine(Path.GetTempPath(), "llama2-bench-hf");
        int? layers = null, threads = null;
        int tokens = 8, promptLength = 32, runs = 3;
        bool together = false;
        var formats = new List<string> { "bf16", "q8_0", "bf16-q8_0" };
        try
        {
            for (int i = 0; i < args.Length; i++)
            {
                string option = args[i];
                string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{option} needs a value");
                int Int() => int.Parse(Value(), CultureInfo.InvariantCulture);
                switch (option)
                {
                    case "--help" or "-h": Console.WriteLine(Usage); return 0;
                    case "--shape": shape = Value(); break;
                    case "--layers": layers = Int(); break;
                    case "--tokens": tokens = Int(); break;
                    case "--prompt": promptLength = Int(); break;
                    case "--runs": runs = Int(); break;
                    case "--dir": directory = Value(); break;
                    case "--threads": threads = Int(); break;
                    case "--together": together = true; break;
                    case "--formats": formats = [.. Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)]; break;
                    default: throw new ArgumentException($"unknown option {option}");
                }
            }
            if (shape is not ("7B" or "110M")) throw new ArgumentException($"--shape is 7B or 110M, not {shape}");
            if (formats.Except(["bf16", "q8_0", "bf16-q8_0", "f32"]).FirstOrDefault() is { } unknown) throw new ArgumentException($"unknown format {unknown}");
        }
        catch (Exception e) when (e is ArgumentException or FormatException)
        {
            Console.Error.WriteLine(e.Message);
            Console.Error.WriteLine(Usage);
            return 2;
        }
        if (threads is { } t) Workers.ThreadCount = t;

        var config = shape == "7B" ? SevenB : Shapes.All["110M"] with { SharedClassifier = false };
        if (layers is { } l) config = config with { NLayers = l };
        string name = $"{shape}-L{config.NLayers}";
        Console.WriteLine($"Llama2.Bench hf: {name} ({config}), {Environment.ProcessorCount} cores, {Workers.ThreadCount} threads, " +
            $"kernels {Simd.Name}, .NET {Environment.Version}; {runs} runs, decode {tokens} tokens, prefill {promptLength}-token prompt; " +
            $"load average {LoadAverage()}");

        string folder = Path.Combine(directory, $"random-{name}-bf16");
        EnsureFolder(folder, config);
        string q8 = Path.Combine(directory, $"random-{name}-q80.bin");
        if (formats.Contains("q8_0")) EnsureDerived(q8, "quantizing to q8_0", (progress, path) => CheckpointQuantizer.QuantizeFile(folder, path, progress: progress));
        string f32 = Path.Combine(directory, $"random-{name}-f32.bin");
        if (formats.Contains("f32"))
            EnsureDerived(f32, "converting to fp32", (progress, path) =>
            {
                using var model = ExternalModel.Open(folder);
                CheckpointConverter.Convert(model, path, 0, progress);
            });

        var random = new Random(42);
        var prompt = Enumerable.Range(0, promptLength).Select(_ => random.Next(3, config.VocabSize)).ToArray();
        var measured = formats.Select(format => new FormatRuns(format, format switch
        {
            "bf16" or "bf16-q8_0" => folder,
            "q8_0" => q8,
            _ => f32,
        }, Quantize: format == "bf16-q8_0")).ToList();

        // Each format alone first, from a cold page cache: open, first token, peak RSS.
        foreach (var f in measured) Cold(f, tokens, prompt);
        // Then the runs: all formats in turn within each run (--together, when they fit in memory together), so that
        // their ratios compare the same minutes; or each format's runs on their own.
        if (together) Runs(measured, tokens, prompt, runs);
        else foreach (var f in measured) Runs([f], tokens, prompt, runs);

        Console.WriteLine();
        string[] header = ["model", "weights", "open (+ quantize) s", "first token s (cold)", "decode tok/s (median, min–max)",
            "prefill tok/s (median, min–max)", "weights read GB/s", "decode / read", "peak RSS", "GC bytes / token",
            .. together ? new[] { $"decode / {measured[0].Name}", $"prefill / {measured[0].Name}" } : []];
        Console.WriteLine("| " + string.Join(" | ", header) + " |");
        Console.WriteLine("|" + string.Concat(header.Select(_ => "---|")));
        foreach (var f in measured)
            Console.WriteLine($"| {name} | " + string.Join(" | ", [.. f.Row(tokens, runs),
                .. together ? new[] { Ratio(f.Decode, measured[0].Decode), Ratio(f.Prefill, measured[0].Prefill) } : []]) + " |");
        Console.WriteLine($"load average after: {LoadAverage()}");
        return 0;
    }

    /// <summary>A format's measurements.</summary>
    sealed record FormatRuns(string Name, string Path, bool Quantize)
    {
        public string Description = "";
        public double Open, FirstToken;
        public long PeakRss, WeightBytes, Allocated;
        public List<double> Decode = [], Prefill = [], Read = [], Shares = [];

        public string[] Row(int tokens, int runs) =>
        [
            Description, F(Open), F(FirstToken), Summary(Decode), Summary(Prefill), Summary(Read),
            string.Create(CultureInfo.InvariantCulture, $"{Median(Shares):P0}"),
            string.Create(CultureInfo.InvariantCulture, $"{PeakRss / 1e9:F2} GB"),
            ((double)Allocated / (runs * (long)tokens)).ToString("F1", CultureInfo.InvariantCulture),
        ];
    }

    static Checkpoint Open(FormatRuns f)
    {
        var checkpoint = Checkpoint.Open(f.Path);
        if (!f.Quantize) return checkpoint;
        var bar = ProgressBar.OnStandardError();
        using var source = checkpoint;
        var quantized = Checkpoint.QuantizeInMemory(source, progress: bar.ForFraction($"{f.Name}: quantizing at load"));
        bar.Complete();
        return quantized;
    }

    /// <summary>Opens the format with its files evicted from the page cache, and computes the first token and one decode and prefill.</summary>
    static void Cold(FormatRuns f, int tokens, int[] prompt)
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        EvictAll(f.Path);
        ResetPeakRss();
        var clock = Stopwatch.StartNew();
        using var checkpoint = Open(f);
        f.Open = clock.Elapsed.TotalSeconds;
        var transformer = new Transformer(checkpoint);
        var state = transformer.CreateState(Math.Max(tokens, prompt.Length));
        clock.Restart();
        transformer.Forward(1, 0, state);
        f.FirstToken = clock.Elapsed.TotalSeconds;
        Decode(transformer, state, tokens);
        transformer.Prefill(prompt, 0, state);
        f.PeakRss = PeakRss();
        f.WeightBytes = Regions(checkpoint.Weights).Sum(r => r.Bytes);
        f.Description = $"{f.Name} ({checkpoint.Format}, {checkpoint.WeightType}{(checkpoint.RepackedBytes > 0 ? ", repacked" : "")}, {f.WeightBytes / 1e9:F2} GB)";
        Console.Error.WriteLine($"{f.Description}: open {f.Open:F2} s, first token {f.FirstToken:F2} s, peak RSS {f.PeakRss / 1e9:F2} GB");
    }

    /// <summary>The runs of the formats, each run measuring every format in turn.</summary>
    static void Runs(List<FormatRuns> formats, int tokens, int[] prompt, int runs)
    {
        var open = formats.Select(Open).ToList();
        try
        {
            var transformers = open.Select(c => new Transformer(c)).ToList();
            var states = transformers.Select(t => t.CreateState(Math.Max(tokens, prompt.Length))).ToList();
            var regions = open.Select(c => Regions(c.Weights)).ToList();
            for (int i = 0; i < formats.Count; i++) Decode(transformers[i], states[i], tokens); // every page in, the JIT's final tiers
            var clock = new Stopwatch();
            for (int run = 0; run < runs; run++)
                for (int i = 0; i < formats.Count; i++)
                {
                    var f = formats[i];
                    long before = GC.GetTotalAllocatedBytes(precise: true);
                    clock.Restart();
                    Decode(transformers[i], states[i], tokens);
                    f.Decode.Add(tokens / clock.Elapsed.TotalSeconds);
                    f.Allocated += GC.GetTotalAllocatedBytes(precise: true) - before;
                    clock.Restart();
                    transformers[i].Prefill(prompt, 0, states[i]);
                    f.Prefill.Add(prompt.Length / clock.Elapsed.TotalSeconds);
                    f.Read.Add(ReadRate(regions[i]) / 1e9);
                    f.Shares.Add(f.Decode[^1] * f.WeightBytes / 1e9 / f.Read[^1]);
                    Console.Error.WriteLine($"  run {run + 1}, {f.Name}: decode {f.Decode[^1]:F2} tok/s, prefill {f.Prefill[^1]:F2} tok/s, " +
                        $"weights ({f.WeightBytes / 1e9:F2} GB) read at {f.Read[^1]:F1} GB/s");
                }
        }
        finally
        {
            foreach (var c in open) c.Dispose();
        }
    }

    /// <summary>The median of each run's rate over the first format's rate in the same run.</summary>
    static string Ratio(List<double> rates, List<double> baseline) =>
        string.Create(CultureInfo.InvariantCulture, $"×{Median(rates.Zip(baseline, (a, b) => a / b).ToList()):F2}");

    // ---- writing the random model ----

    /// <summary>The bf16 Hugging Face folder of <paramref name="config"/>'s shape, random weights, written once.</summary>
    static void EnsureFolder(string folder, ModelConfig config)
    {
        string done = Path.Combine(folder, ".complete");
        if (File.Exists(done)) return;
        if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "config.json"), JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["architectures"] = new[] { "LlamaForCausalLM" }, ["model_type"] = "llama", ["hidden_act"] = "silu",
            ["hidden_size"] = config.Dim, ["intermediate_size"] = config.HiddenDim, ["num_hidden_layers"] = config.NLayers,
            ["num_attention_heads"] = config.NHeads, ["num_key_value_heads"] = config.NKvHeads, ["vocab_size"] = config.VocabSize,
            ["max_position_embeddings"] = config.SeqLen, ["rms_norm_eps"] = config.RmsNormEps, ["rope_theta"] = config.RopeTheta,
            ["tie_word_embeddings"] = false, ["torch_dtype"] = "bfloat16",
        }));
        // Two shards, as Meta's Llama-2-7b-hf: the embedding and the first half of the layers, then the rest.
        var tensors = new List<(string Name, long[] Shape, bool Norm)> { ("model.embed_tokens.weight", [config.VocabSize, config.Dim], false) };
        for (int l = 0; l < config.NLayers; l++)
        {
            string p = $"model.layers.{l}.";
            tensors.AddRange([
                (p + "input_layernorm.weight", [config.Dim], true), (p + "self_attn.q_proj.weight", [config.Dim, config.Dim], false),
                (p + "self_attn.k_proj.weight", [config.KvDim, config.Dim], false), (p + "self_attn.v_proj.weight", [config.KvDim, config.Dim], false),
                (p + "self_attn.o_proj.weight", [config.Dim, config.Dim], false), (p + "post_attention_layernorm.weight", [config.Dim], true),
                (p + "mlp.gate_proj.weight", [config.HiddenDim, config.Dim], false), (p + "mlp.down_proj.weight", [config.Dim, config.HiddenDim], false),
                (p + "mlp.up_proj.weight", [config.HiddenDim, config.Dim], false)]);
        }
        tensors.AddRange([("model.norm.weight", [config.Dim], true), ("lm_head.weight", [config.VocabSize, config.Dim], false)]);
        int split = 1 + 9 * (config.NLayers / 2);
        var shards = new[] { tensors.Take(split).ToList(), tensors.Skip(split).ToList() };
        long total = tensors.Sum(t => t.Shape.Aggregate(1L, (a, b) => a * b)) * 2, written = 0;
        var weightMap = new Dictionary<string, string>();
        var bar = ProgressBar.OnStandardError();
        for (int s = 0; s < shards.Length; s++)
        {
            string file = $"model-{s + 1:D5}-of-{shards.Length:D5}.safetensors";
            foreach (var t in shards[s]) weightMap[t.Name] = file;
            WriteShard(Path.Combine(folder, file), shards[s], bytes =>
            {
                written += bytes;
                bar.Report((double)written / total, $"writing {total / 1e9:F1} GB of random bf16 weights in {folder}");
            });
        }
        bar.Complete();
        File.WriteAllText(Path.Combine(folder, "model.safetensors.index.json"),
            JsonSerializer.Serialize(new { metadata = new { total_size = total }, weight_map = weightMap }));
        File.WriteAllText(done, "");
    }

    /// <summary>
    /// One safetensors file: the 8-byte header length, the JSON header (padded with spaces to 8 bytes), then each
    /// tensor's bf16 values: norms near 1, matrices uniform in ±1/√columns, from a seeded generator per tensor.
    /// </summary>
    static void WriteShard(string path, List<(string Name, long[] Shape, bool Norm)> tensors, Action<long> wrote)
    {
        var header = new Dictionary<string, object>();
        long offset = 0;
        foreach (var (name, shape, _) in tensors)
        {
            long bytes = shape.Aggregate(1L, (a, b) => a * b) * 2;
            header[name] = new { dtype = "BF16", shape, data_offsets = new[] { offset, offset + bytes } };
            offset += bytes;
        }
        var json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        int padded = (json.Length + 7) / 8 * 8;
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 22);
        stream.Write(BitConverter.GetBytes((long)padded));
        stream.Write(json);
        for (int i = json.Length; i < padded; i++) stream.WriteByte((byte)' ');
        var chunk = new ushort[1 << 23];
        int seed = 0;
        foreach (var (name, shape, norm) in tensors)
        {
            long count = shape.Aggregate(1L, (a, b) => a * b);
            float scale = norm ? 0.1f : 1f / MathF.Sqrt(shape[^1]);
            seed++;
            for (long done = 0; done < count; done += chunk.Length)
            {
                int n = (int)Math.Min(chunk.Length, count - done);
                // Filled in parallel slices, each from its own seeded xorshift: the same values on every machine.
                int slices = Environment.ProcessorCount * 4;
                Parallel.For(0, slices, slice =>
                {
                    uint state = (uint)(seed * 7919 + done / chunk.Length * 104729 + slice * 15485863) | 1;
                    for (int i = slice * n / slices; i < (slice + 1) * n / slices; i++)
                    {
                        state ^= state << 13; state ^= state >> 17; state ^= state << 5;
                        float value = ((state >> 8) * (1f / (1 << 24)) * 2 - 1) * scale + (norm ? 1f : 0f);
                        chunk[i] = (ushort)(BitConverter.SingleToUInt32Bits(value) >> 16);
                    }
                });
                stream.Write(MemoryMarshal.AsBytes(chunk.AsSpan(0, n)));
                wrote(n * 2L);
            }
        }
    }

    /// <summary>A file made from the folder once (written under a temporary name, renamed when complete).</summary>
    static void EnsureDerived(string path, string what, Action<IProgress<double>, string> make)
    {
        if (File.Exists(path)) return;
        var bar = ProgressBar.OnStandardError();
        string temporary = path + ".partial";
        var clock = Stopwatch.StartNew();
        make(bar.ForFraction($"{what}: {Path.GetFileName(path)}"), temporary);
        bar.Complete();
        File.Move(temporary, path, overwrite: true);
        Console.Error.WriteLine($"{what}: {Path.GetFileName(path)} in {clock.Elapsed.TotalSeconds:F0} s");
    }

    // ---- measuring ----

    static void Decode(Transformer transformer, RunState state, int tokens)
    {
        int token = 1;
        for (int pos = 0; pos < tokens; pos++) token = TensorPrimitives.IndexOfMax(transformer.Forward(token, pos, state));
    }

    /// <summary>Every distinct region of memory the weights lie in (a shared classifier once).</summary>
    static unsafe List<(nint Start, long Bytes)> Regions(TransformerWeights w)
    {
        var regions = new HashSet<(nint, long)>();
        foreach (var kind in ExternalModel.WeightKinds)
            for (int layer = 0; layer < (ExternalModel.IsPerLayer(kind) ? w.Config.NLayers : 1); layer++)
            {
                var m = w[kind, layer];
                switch (m.Format)
                {
                    case WeightFormat.F32: regions.Add(((nint)m.F32Pointer, m.Bytes)); break;
                    case WeightFormat.BF16 or WeightFormat.F16: regions.Add(((nint)m.Bits16Pointer, m.Bytes)); break;
                    default:
                        regions.Add(((nint)m.Q8Values, (long)m.Rows * m.Columns));
                        regions.Add(((nint)m.Q8Scales, (long)m.Rows * m.GroupsPerRow * sizeof(float)));
                        break;
                }
            }
        return [.. regions];
    }

    /// <summary>The median rate of three passes of the kernel threads over every byte of the weights, summed as floats.</summary>
    static double ReadRate(List<(nint Start, long Bytes)> regions)
    {
        const long Piece = 64L << 20;
        var pieces = regions.SelectMany(r => Enumerable.Range(0, (int)((r.Bytes + Piece - 1) / Piece))
            .Select(i => (r.Start + (nint)(i * Piece), Math.Min(Piece, r.Bytes - i * Piece)))).ToArray();
        long total = regions.Sum(r => r.Bytes);
        var job = new SumJob(pieces);
        var rates = new List<double>();
        for (int pass = 0; pass < 3; pass++)
        {
            long start = Stopwatch.GetTimestamp();
            Workers.For(pieces.Length, ref job);
            rates.Add(total / Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
        return Median(rates);
    }

    readonly unsafe struct SumJob((nint Start, long Bytes)[] pieces) : IRowJob
    {
        public long CostPerRow => 1 << 20;

        public void Run(int start, int end)
        {
            float sum = 0;
            for (int i = start; i < end; i++)
                sum += TensorPrimitives.Sum(new ReadOnlySpan<float>((void*)pieces[i].Start, (int)(pieces[i].Bytes / sizeof(float))));
            Volatile.Write(ref _sink, sum);
        }
    }

    static float _sink;

    static void EvictAll(string path)
    {
        foreach (var file in Directory.Exists(path) ? Directory.GetFiles(path, "*.safetensors") : [path]) PageCache.Evict(file);
    }

    static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    static string F(double value) => value.ToString("F2", CultureInfo.InvariantCulture);

    static string Summary(List<double> values) =>
        string.Create(CultureInfo.InvariantCulture, $"{Median(values):F2} ({values.Min():F2}–{values.Max():F2})");

    static string LoadAverage()
    {
        try { return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); }
        catch (IOException) { return "n/a"; }
    }

    static void ResetPeakRss()
    {
        try { File.WriteAllText("/proc/self/clear_refs", "5"); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    static long PeakRss()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                return long.Parse(line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        return 0;
    }
}

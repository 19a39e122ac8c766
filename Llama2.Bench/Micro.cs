using System.Globalization;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Llama2.Engine.Kernels;

namespace Llama2.Bench;

/// <summary>BenchmarkDotNet micro-benchmarks of the kernels, run in-process (the engine is already built).</summary>
static class Micro
{
    public static int Run(string[] args)
    {
        var config = ManualConfig.CreateMinimumViable()
            .AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance)
                .WithWarmupCount(3).WithIterationCount(10).WithLaunchCount(1))
            .AddColumn(new RateColumn(gigaFlops: true), new RateColumn(gigaFlops: false))
            .WithOptions(ConfigOptions.DisableOptimizationsValidator)
            .WithArtifactsPath(Path.Combine(Path.GetTempPath(), "llama2-bench", "BenchmarkDotNet.Artifacts"));
        var summaries = BenchmarkSwitcher.FromTypes([typeof(KernelBenchmarks), typeof(DispatchBenchmarks)])
            .Run(args.Length == 0 ? ["--filter", "*"] : args, config);
        return summaries.Any(s => s.HasCriticalValidationErrors) ? 1 : 0;
    }

    /// <summary>GFLOP/s (2·d·n·tokens per call) or GB/s (the d × n fp32 weights read once per call) from the mean time.</summary>
    sealed class RateColumn(bool gigaFlops) : IColumn
    {
        public string Id => gigaFlops ? "GFLOPs" : "GBps";
        public string ColumnName => gigaFlops ? "GFLOP/s" : "weights GB/s";
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => gigaFlops ? 0 : 1;
        public bool IsNumeric => true;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => gigaFlops ? "2·d·n·tokens flops per call / mean time" : "4·d·n bytes of weights per call / mean time";
        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
        public bool IsAvailable(Summary summary) => true;
        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            if (benchmarkCase.Descriptor.Type != typeof(KernelBenchmarks)) return "-";
            var mean = summary[benchmarkCase]?.ResultStatistics?.Mean;
            if (mean is not { } ns) return "?";
            var shape = KernelBenchmarks.ParseShape((string)benchmarkCase.Parameters["Shape"]);
            int tokens = (int)benchmarkCase.Parameters["Tokens"];
            double value = gigaFlops ? 2.0 * shape.D * shape.N * tokens / ns : 4.0 * shape.D * shape.N / ns;
            return value.ToString("F1", CultureInfo.InvariantCulture);
        }
    }
}

/// <summary>The matrix kernels on the 110M model's shapes: tokens = 1 is decoding's matrix × vector, 64 is prefill's GEMM.</summary>
[MemoryDiagnoser]
public class KernelBenchmarks
{
    float[] _w = [], _x = [], _out = [];
    int _d, _n;

    /// <summary>d × n: wq/wo, w1/w3, w2, the classifier.</summary>
    [Params("768x768", "2048x768", "768x2048", "32000x768")]
    public string Shape { get; set; } = "768x768";

    [Params(1, 64)]
    public int Tokens { get; set; }

    [Params(2)]
    public int Threads { get; set; }

    public static (int D, int N) ParseShape(string shape)
    {
        var parts = shape.Split('x');
        return (int.Parse(parts[0], CultureInfo.InvariantCulture), int.Parse(parts[1], CultureInfo.InvariantCulture));
    }

    [GlobalSetup]
    public void Setup()
    {
        Workers.ThreadCount = Threads;
        var (d, n) = (_d, _n) = ParseShape(Shape);
        var random = new Random(1);
        _w = Enumerable.Range(0, d * n).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        _x = Enumerable.Range(0, n * Tokens).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        _out = new float[d * Tokens];
    }

    [Benchmark]
    public void MatMulKernel() => MatMul.Gemm(_out, _x, _w, _n, _d, Tokens);
}

/// <summary>What it costs to split a small row loop across the threads: the persistent pool against Parallel.For.</summary>
[MemoryDiagnoser]
public class DispatchBenchmarks
{
    readonly float[] _sink = new float[1024];

    [Params(2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup() => Workers.ThreadCount = Threads;

    struct TinyJob(float[] sink) : IRowJob
    {
        public readonly void Run(int start, int end)
        {
            for (int i = start; i < end; i++) sink[i] += 1f;
        }
        public readonly long CostPerRow => 1 << 20; // claim enough work to always split
    }

    [Benchmark(Baseline = true)]
    public void WorkerPool()
    {
        var job = new TinyJob(_sink);
        Workers.For(_sink.Length, ref job);
    }

    /// <summary>What the engine did before: a Parallel.For with a closure per matmul.</summary>
    [Benchmark]
    public void ParallelFor()
    {
        int rows = _sink.Length, chunks = Threads;
        var job = new TinyJob(_sink);
        Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = chunks }, c =>
        {
            int start = (int)((long)rows * c / chunks), end = (int)((long)rows * (c + 1) / chunks);
            job.Run(start, end);
        });
    }
}

using System.Diagnostics;
using System.Globalization;

namespace Llama2.Bench.LoadTest;

/// <summary>The numbers of a load test, worked out from the records of its measured requests, and their printout.</summary>
sealed class LoadTestReport
{
    /// <summary>Clients that sent at least one measured request.</summary>
    public required int Streams { get; init; }
    public required int Requests { get; init; }
    public required int Completed { get; init; }
    public required int Disconnects { get; init; }
    public required int Errors { get; init; }
    /// <summary>Token events received by measured requests, whatever their outcome.</summary>
    public required long Tokens { get; init; }
    /// <summary>From the first measured request sent to the last one finished.</summary>
    public required double WallSeconds { get; init; }
    public required double TtftP50Ms { get; init; }
    public required double TtftP99Ms { get; init; }
    public required double ItlP50Ms { get; init; }
    public required double ItlP99Ms { get; init; }
    /// <summary>Decode tok/s of each completed request, ascending: (tokens − 1) / (last token − first token).</summary>
    public required double[] DecodeRates { get; init; }
    /// <summary>Whether <see cref="DecodeRates"/> holds only requests that ran while every client was active.</summary>
    public required bool DecodeRatesUnderFullLoad { get; init; }
    /// <summary>Failures by kind, most frequent first, with the first message seen.</summary>
    public required IReadOnlyList<(string Kind, int Count, string Example)> ErrorKinds { get; init; }

    public double AggregateTokensPerSecond => WallSeconds > 0 ? Tokens / WallSeconds : 0;

    public static LoadTestReport Create(IReadOnlyList<RequestRecord> records)
    {
        var ttft = records.Where(r => r.Tokens > 0).Select(r => Milliseconds(r.Sent, r.FirstToken)).Order().ToArray();
        var gaps = records.SelectMany(r => r.TokenGapsMs).Order().ToArray();
        var failed = records.Where(r => r.Outcome == RequestOutcome.Failed).ToList();
        var (rates, underFullLoad) = DecodeRatesOf(records);
        return new LoadTestReport
        {
            Streams = records.Select(r => r.Client).Distinct().Count(),
            Requests = records.Count,
            Completed = records.Count(r => r.Outcome == RequestOutcome.Completed),
            Disconnects = records.Count(r => r.Outcome == RequestOutcome.Disconnected),
            Errors = failed.Count,
            Tokens = records.Sum(r => (long)r.Tokens),
            WallSeconds = records.Count == 0 ? 0 : Milliseconds(records.Min(r => r.Sent), records.Max(r => r.Ended)) / 1000,
            TtftP50Ms = Percentile(ttft, 50),
            TtftP99Ms = Percentile(ttft, 99),
            ItlP50Ms = Percentile(gaps, 50),
            ItlP99Ms = Percentile(gaps, 99),
            DecodeRates = rates,
            DecodeRatesUnderFullLoad = underFullLoad,
            ErrorKinds = failed.GroupBy(r => r.ErrorKind ?? "unknown")
                .Select(g => (g.Key, g.Count(), g.First().ErrorMessage ?? ""))
                .OrderByDescending(e => e.Item2).ThenBy(e => e.Key, StringComparer.Ordinal).ToList(),
        };
    }

    /// <summary>
    /// Nearest-rank percentile of ascending samples: the smallest sample with at least <paramref name="percent"/> % of
    /// the samples at or below it (no interpolation, so it is always a measured value); NaN without samples.
    /// </summary>
    public static double Percentile(IReadOnlyList<double> sorted, double percent)
    {
        if (sorted.Count == 0) return double.NaN;
        int rank = (int)Math.Ceiling(percent * sorted.Count / 100);
        return sorted[Math.Clamp(rank, 1, sorted.Count) - 1];
    }

    /// <summary>
    /// Per-request decode speed, for fairness between concurrent streams. Only requests whose tokens all came while
    /// every client was running count (after the last client's first send, before the first client's last finish):
    /// the few that run alone at the start or the tail would look faster than any stream under load. When no request
    /// fits (too few rounds), all completed requests count.
    /// </summary>
    static (double[] Rates, bool UnderFullLoad) DecodeRatesOf(IReadOnlyList<RequestRecord> records)
    {
        var decoded = records.Where(r => r.Outcome == RequestOutcome.Completed && r.Tokens >= 2 && r.LastToken > r.FirstToken).ToList();
        if (decoded.Count == 0) return ([], false);
        var clients = records.GroupBy(r => r.Client).ToList();
        long allActiveFrom = clients.Max(c => c.Min(r => r.Sent));
        long allActiveUntil = clients.Min(c => c.Max(r => r.Ended));
        var underFullLoad = decoded.Where(r => r.FirstToken >= allActiveFrom && r.LastToken <= allActiveUntil).ToList();
        var counted = underFullLoad.Count > 0 ? underFullLoad : decoded;
        var rates = counted.Select(r => (r.Tokens - 1) / (Milliseconds(r.FirstToken, r.LastToken) / 1000)).Order().ToArray();
        return (rates, underFullLoad.Count > 0);
    }

    static double Milliseconds(long from, long to) => Stopwatch.GetElapsedTime(from, to).TotalMilliseconds;

    public static string Header(LoadTestOptions o) => string.Create(CultureInfo.InvariantCulture,
        $"Load test of {o.Url}generate_stream: {Count(o.Clients, "client")}, {Count(o.Requests, "request")}") +
        (o.Duration is { } d ? string.Create(CultureInfo.InvariantCulture, $" or {d.TotalSeconds:0.#} s") : "") +
        string.Create(CultureInfo.InvariantCulture,
            $" (+{o.Warmup} warm-up), max_new_tokens {o.MaxNewTokens}, temperature {o.Temperature}, top_p {o.TopP}, seeds from {o.Seed}, prompt \"{o.Prompt}\"") +
        (o.DisconnectEvery is { } k ? $", every {k}th request abandoned after its first token" : "");

    public void Write(TextWriter output, LoadTestOptions options)
    {
        string rates = DecodeRates.Length == 0 ? "n/a" : $"{Format(DecodeRates[0])}–{Format(DecodeRates[^1])}";
        output.WriteLine();
        output.WriteLine("| streams | requests | aggregate tok/s | TTFT p50 | TTFT p99 | ITL p50 | ITL p99 | per-request tok/s min–max | errors |");
        output.WriteLine("|---|---|---|---|---|---|---|---|---|");
        output.WriteLine($"| {Streams} | {Requests} | {Format(AggregateTokensPerSecond)} | {Ms(TtftP50Ms)} | {Ms(TtftP99Ms)} | " +
            $"{Ms(ItlP50Ms)} | {Ms(ItlP99Ms)} | {rates} | {Errors} |");
        output.WriteLine();
        if (DecodeRates.Length > 0)
        {
            string which = DecodeRatesUnderFullLoad
                ? Count(DecodeRates.Length, "completed request") + (Streams == 1 ? " (one client)" : $" that ran while all {Streams} clients were active")
                : $"all {DecodeRates.Length} completed requests (none ran entirely while all clients were active)";
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"per-request decode tok/s over {which}: min {Format(DecodeRates[0])}, median {Format(Percentile(DecodeRates, 50))}, " +
                $"max {Format(DecodeRates[^1])}, max/min {DecodeRates[^1] / DecodeRates[0]:F2}"));
        }
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{Requests} requests in {WallSeconds:F2} s: {Completed} completed, {Disconnects} disconnected on purpose, {Errors} errors; {Tokens} tokens"));
        foreach (var (kind, count, example) in ErrorKinds)
            output.WriteLine($"error {kind}: {count} (first: {example})");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"loadtest: clients={options.Clients} requests={Requests} tokens={Tokens} aggregate_tok_s={Machine(AggregateTokensPerSecond)} " +
            $"ttft_p50_ms={Machine(TtftP50Ms)} ttft_p99_ms={Machine(TtftP99Ms)} itl_p50_ms={Machine(ItlP50Ms)} itl_p99_ms={Machine(ItlP99Ms)} " +
            $"errors={Errors} disconnects={Disconnects}"));
    }

    static string Count(int n, string noun) => n == 1 ? $"1 {noun}" : $"{n} {noun}s";
    static string Format(double value) => double.IsNaN(value) ? "n/a" : value.ToString("F1", CultureInfo.InvariantCulture);
    static string Ms(double value) => double.IsNaN(value) ? "n/a" : Format(value) + " ms";
    static string Machine(double value) => double.IsNaN(value) ? "nan" : value.ToString("F1", CultureInfo.InvariantCulture);
}

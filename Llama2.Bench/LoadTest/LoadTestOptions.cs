using System.Globalization;
using System.Net;

namespace Llama2.Bench.LoadTest;

/// <summary>What <c>Llama2.Bench loadtest</c> runs, parsed from the command line and validated before anything is sent.</summary>
/// <param name="Url">The server's base URL; always a loopback host.</param>
/// <param name="Clients">Concurrent clients, each with one stream at a time.</param>
/// <param name="Requests">Measured requests in all (the warm-up is not counted).</param>
/// <param name="Duration">No new request starts after this long, when set.</param>
/// <param name="Seed">Request i (0-based) is sampled with seed + i, so a run can be repeated.</param>
/// <param name="DisconnectEvery">Every K-th request is abandoned after its first token, when set.</param>
/// <param name="Warmup">Requests sent one at a time before the measurement.</param>
sealed record LoadTestOptions(
    Uri Url,
    int Clients,
    int Requests,
    TimeSpan? Duration,
    int MaxNewTokens,
    double Temperature,
    double TopP,
    string Prompt,
    ulong Seed,
    int? DisconnectEvery,
    int Warmup)
{
    public const string Usage = """
        usage: Llama2.Bench loadtest [--url http://127.0.0.1:8080] [--clients 8] [--requests N] [--duration SECONDS]
                                     [--max-new-tokens 128] [--temperature 1] [--top-p 0.9] [--prompt "Once upon a time"]
                                     [--seed 1] [--disconnect-every K] [--warmup 1]
          --url               base URL of a running Llama2.Server; loopback only (127.0.0.0/8, ::1, localhost)
          --clients           concurrent clients streaming from POST /generate_stream, 1..256 (default 8)
          --requests          measured requests in all, 1..100000 (default clients × 4; 100000 when --duration is given)
          --duration          stop starting requests after this many seconds, 1..3600 (whichever of the two comes first)
          --max-new-tokens    max_new_tokens of every request, 1..100000 (default 128)
          --temperature       sampling temperature ≥ 0, 0 = greedy (default 1)
          --top-p             nucleus sampling, > 0 and ≤ 1 (default 0.9)
          --prompt            the inputs of every request (default "Once upon a time")
          --seed              request i uses seed + i (default 1)
          --disconnect-every  abandon every K-th request after its first token (counted as disconnects, not errors)
          --warmup            requests sent one at a time before measuring, 0..100 (default 1)
        In-flight requests are cancelled, and counted as errors, after the duration + 60 s (600 s without a duration).
        Exit code: 0 without errors, 1 with errors, 2 for bad options.
        """;

    static readonly string[] Names =
    [
        "--url", "--clients", "--requests", "--duration", "--max-new-tokens", "--temperature", "--top-p", "--prompt",
        "--seed", "--disconnect-every", "--warmup",
    ];

    /// <summary>After this, requests still running are cancelled and counted as timeouts.</summary>
    public TimeSpan HardTimeout => Duration is { } duration ? duration + TimeSpan.FromSeconds(60) : TimeSpan.FromSeconds(600);

    /// <summary>The options, or false and the first problem with them in one line.</summary>
    public static bool TryParse(string[] args, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out LoadTestOptions? options,
        [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? problem)
    {
        options = null;
        problem = null;
        try
        {
            options = Parse(args);
            return true;
        }
        catch (BadOptionException e)
        {
            problem = e.Message;
            return false;
        }
    }

    static LoadTestOptions Parse(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < args.Length; i++)
        {
            string name = args[i];
            if (!Names.Contains(name)) throw new BadOptionException($"unknown option {name}");
            if (i + 1 >= args.Length) throw new BadOptionException($"{name} needs a value");
            values[name] = args[++i];
        }

        var url = LoopbackUrl(values.GetValueOrDefault("--url", "http://127.0.0.1:8080"));
        int clients = Int(values, "--clients", 8, 1, 256);
        TimeSpan? duration = values.ContainsKey("--duration") ? TimeSpan.FromSeconds(Number(values, "--duration", 0, 1, 3600)) : null;
        // With a duration and no request count, the duration is the limit.
        int requests = Int(values, "--requests", duration is null ? clients * 4 : 100_000, 1, 100_000);
        int maxNewTokens = Int(values, "--max-new-tokens", 128, 1, 100_000);
        double temperature = Number(values, "--temperature", 1, 0, double.MaxValue);
        double topP = Number(values, "--top-p", 0.9, double.Epsilon, 1);
        string prompt = values.GetValueOrDefault("--prompt", "Once upon a time");
        if (string.IsNullOrWhiteSpace(prompt)) throw new BadOptionException("--prompt cannot be empty");
        int? disconnectEvery = values.ContainsKey("--disconnect-every") ? Int(values, "--disconnect-every", 0, 1, 100_000) : null;
        int warmup = Int(values, "--warmup", 1, 0, 100);

        ulong seed = 1;
        if (values.TryGetValue("--seed", out var seedText)
            && !ulong.TryParse(seedText, NumberStyles.None, CultureInfo.InvariantCulture, out seed))
            throw new BadOptionException($"--seed must be a whole number ≥ 0 (got '{seedText}')");
        // Measured requests use seed .. seed + requests - 1, the warm-up the seeds after them: none may wrap around.
        if (seed > ulong.MaxValue - (ulong)(requests + warmup))
            throw new BadOptionException($"--seed must be at most {ulong.MaxValue - (ulong)(requests + warmup)} (got {seed})");

        return new LoadTestOptions(url, clients, requests, duration, maxNewTokens, temperature, topP, prompt, seed, disconnectEvery, warmup);
    }

    /// <summary>
    /// The base URL, with a trailing slash so that endpoint paths append to it. Only this machine may be targeted:
    /// a load generator pointed at someone else's server by a typo is a denial-of-service attack.
    /// </summary>
    static Uri LoopbackUrl(string text)
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
            throw new BadOptionException($"--url must be an absolute http:// or https:// URL (got '{text}')");
        if (!IsLoopbackHost(url.IdnHost))
            throw new BadOptionException($"--url {text}: loopback only (127.0.0.0/8, ::1, localhost); the load generator never targets another machine");
        return url.AbsolutePath.EndsWith('/') ? url : new Uri(url.GetLeftPart(UriPartial.Path) + "/");
    }

    /// <summary>localhost, or an IP address of 127.0.0.0/8 or ::1.</summary>
    public static bool IsLoopbackHost(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
        || (IPAddress.TryParse(host, out var address) && IPAddress.IsLoopback(address));

    static int Int(Dictionary<string, string> values, string name, int fallback, int min, int max)
    {
        if (!values.TryGetValue(name, out var text)) return fallback;
        if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int value) || value < min || value > max)
            throw new BadOptionException($"{name} must be a whole number from {min} to {max} (got '{text}')");
        return value;
    }

    static double Number(Dictionary<string, string> values, string name, double fallback, double min, double max)
    {
        if (!values.TryGetValue(name, out var text)) return fallback;
        string range = (min, max) switch
        {
            (0, double.MaxValue) => "≥ 0",
            (double.Epsilon, _) => $"> 0 and ≤ {max.ToString(CultureInfo.InvariantCulture)}",
            _ => $"from {min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)}",
        };
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value)
            || !double.IsFinite(value) || value < min || value > max)
            throw new BadOptionException($"{name} must be a number {range} (got '{text}')");
        return value;
    }

    sealed class BadOptionException(string message) : Exception(message);
}

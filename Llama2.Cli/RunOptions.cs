using System.Globalization;
using Llama2.Engine.Kernels;

namespace Llama2.Cli;

/// <summary>The flags of llama2.c's <c>./run</c>, with its defaults and its clamping, plus <c>--threads</c>.</summary>
public sealed record RunOptions
{
    public required string CheckpointPath { get; init; }
    public float Temperature { get; init; } = 1.0f;
    public float TopP { get; init; } = 0.9f;
    public long Seed { get; init; }
    public int Steps { get; init; } = 256;
    public string? Prompt { get; init; }
    public string TokenizerPath { get; init; } = "tokenizer.bin";
    public string Mode { get; init; } = "generate";
    public string? SystemPrompt { get; init; }
    public int? Threads { get; init; }

    public const string Usage = """
        Usage:   run <checkpoint> [options]
        Example: run model.bin -n 256 -i "Once upon a time"
        Options:
          -t <float>  temperature in [0,inf], default 1.0
          -p <float>  p value in top-p (nucleus) sampling in [0,1] default 0.9
          -s <int>    random seed, default time(NULL)
          -n <int>    number of steps to run for, default 256. 0 = max_len
          -i <string> input prompt
          -z <string> optional path to custom tokenizer
          -m <string> mode: generate|chat, default: generate
          -y <string> (optional) system prompt in chat mode
          --threads <int>  worker threads for the kernels (1 to 256), default: all cores
        """;

    /// <summary>Parses run.c's command line; returns null with <paramref name="error"/> set when it is not valid.</summary>
    public static RunOptions? Parse(IReadOnlyList<string> args, out string? error)
    {
        error = null;
        if (args.Count < 1 || args[0].StartsWith('-'))
        {
            error = "missing checkpoint path";
            return null;
        }
        var options = new RunOptions { CheckpointPath = args[0] };
        for (int i = 1; i < args.Count; i += 2)
        {
            string flag = args[i];
            if (i + 1 >= args.Count)
            {
                error = $"flag {flag} needs a value";
                return null;
            }
            string value = args[i + 1];
            switch (flag)
            {
                case "-t" when TryFloat(value, out var t): options = options with { Temperature = t }; break;
                case "-p" when TryFloat(value, out var p): options = options with { TopP = p }; break;
                case "-s" when long.TryParse(value, CultureInfo.InvariantCulture, out var s): options = options with { Seed = s }; break;
                case "-n" when int.TryParse(value, CultureInfo.InvariantCulture, out var n): options = options with { Steps = n }; break;
                case "-i": options = options with { Prompt = value }; break;
                case "-z": options = options with { TokenizerPath = value }; break;
                case "-m": options = options with { Mode = value }; break;
                case "-y": options = options with { SystemPrompt = value }; break;
                case "--threads" when int.TryParse(value, CultureInfo.InvariantCulture, out var threads) && threads is > 0 and <= Workers.MaxThreads:
                    options = options with { Threads = threads };
                    break;
                case "-t" or "-p" or "-s" or "-n" or "--threads":
                    error = $"invalid value '{value}' for {flag}";
                    return null;
                default:
                    error = $"unknown flag {flag}";
                    return null;
            }
        }
        // run.c's parameter validation overrides.
        return options with
        {
            Temperature = options.Temperature < 0 ? 0 : options.Temperature,
            TopP = options.TopP is < 0 or > 1 ? 0.9f : options.TopP,
            Steps = Math.Max(0, options.Steps),
            Seed = options.Seed <= 0 ? DateTimeOffset.UtcNow.ToUnixTimeSeconds() : options.Seed,
        };
    }

    static bool TryFloat(string s, out float value) =>
        float.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && float.IsFinite(value);
}

using Llama2.Engine;

namespace Llama2.Cli;

/// <summary>
/// The flags of llama2.c's <c>./run</c>, with its defaults and its clamping, plus <c>--threads</c>,
/// <c>--context-shift</c> and <c>--quantize</c>.
/// </summary>
public sealed record RunOptions
{
    public required string CheckpointPath { get; init; }
    public float Temperature { get; init; } = 1.0f;
    public float TopP { get; init; } = 0.9f;
    /// <summary>0 (the default) takes the seed from the clock.</summary>
    public long Seed { get; init; }
    public int Steps { get; init; } = 256;
    public string? Prompt { get; init; }
    /// <summary>tokenizer.bin; null: the vocabulary stored with a GGUF or Hugging Face model.</summary>
    public string? TokenizerPath { get; init; } = "tokenizer.bin";
    public string Mode { get; init; } = "generate";
    public string? SystemPrompt { get; init; }
    public int? Threads { get; init; }
    /// <summary>Go on past the model's context (-n beyond seq_len), dropping the oldest tokens; run.c stops there.</summary>
    public bool ContextShift { get; init; }
    /// <summary>What to do with an fp32 checkpoint at load (not in run.c).</summary>
    public Quantization Quantization { get; init; }

    public static RunOptions Defaults { get; } = new() { CheckpointPath = "" };

    /// <summary>run.c's parameter validation overrides: what it does with values out of range.</summary>
    public RunOptions WithRunCOverrides() => this with
    {
        Temperature = Temperature < 0 ? 0 : Temperature,
        TopP = TopP is < 0 or > 1 ? 0.9f : TopP,
        Steps = Math.Max(0, Steps),
        Seed = Seed <= 0 ? DateTimeOffset.UtcNow.ToUnixTimeSeconds() : Seed,
    };
}

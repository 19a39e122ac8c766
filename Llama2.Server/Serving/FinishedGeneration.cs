using Llama2.Engine.Generation;

namespace Llama2.Server.Serving;

/// <summary>What every API reports of a generation that ran to its end.</summary>
/// <param name="Summary">The engine's totals: finish reason, token counts, text, timings, context shifts.</param>
/// <param name="Seed">The seed when sampling; null for greedy decoding.</param>
/// <param name="QueueTime">Time the request waited for a sequence slot.</param>
/// <param name="TruncatedTokens">Prompt tokens left out before generation (<see cref="ValidatedGeneration.TruncatedTokens"/>).</param>
/// <param name="DroppedMessages">A chat's messages left out (<see cref="ValidatedGeneration.DroppedMessages"/>).</param>
public sealed record FinishedGeneration(GenerationSummary Summary, ulong? Seed, TimeSpan QueueTime, int TruncatedTokens = 0,
    int DroppedMessages = 0);

public static class FinishReasons
{
    /// <summary>
    /// The server's name for a finish reason, in logs, metrics and TGI's answers: length, eos_token or stop_sequence
    /// (a full context is "length": TGI has no separate reason for it).
    /// </summary>
    public static string Name(this FinishReason reason) => reason switch
    {
        FinishReason.EosToken => "eos_token",
        FinishReason.StopSequence => "stop_sequence",
        _ => "length",
    };
}

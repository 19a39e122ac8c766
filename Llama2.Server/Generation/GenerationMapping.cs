using Llama2.Engine.Generation;
using Llama2.Engine.Scheduling;

namespace Llama2.Server.Generation;

/// <summary>Engine results in TGI's shapes.</summary>
public static class GenerationMapping
{
    public static string ToTgi(this FinishReason reason) => reason switch
    {
        FinishReason.EosToken => "eos_token",
        FinishReason.StopSequence => "stop_sequence",
        _ => "length", // ContextFull included: TGI has no separate reason for it
    };

    public static TokenInfo ToTokenInfo(this GeneratedToken token) =>
        new(token.Id, token.Text, float.IsFinite(token.Logprob) ? token.Logprob : null, token.Special);

    public static StreamDetails ToStreamDetails(this GenerationSummary summary, ValidatedGeneration generation, ScheduledGeneration scheduled) =>
        new(summary.FinishReason.ToTgi(), summary.GeneratedTokens, generation.Seed, summary.PromptTokens,
            Math.Round(summary.TokensPerSecond, 2), summary.TimeToFirstToken.TotalMilliseconds, scheduled.QueueTime.TotalMilliseconds);
}

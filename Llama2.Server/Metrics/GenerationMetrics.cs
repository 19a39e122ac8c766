using Llama2.Engine.Generation;

namespace Llama2.Server.Metrics;

/// <summary>
/// Records the generations every API serves in <see cref="ServerMetrics"/>: prompt and generated tokens, queue time,
/// time to first token, time per output token, request duration, and how each ended, by endpoint (the route).
/// </summary>
public sealed class GenerationMetrics(ServerMetrics metrics) : IGenerationObserver
{
    public void Started(RunningGeneration generation) => metrics.PromptTokens.Inc(generation.Generation.PromptIds.Length);

    public void TokenRead(RunningGeneration generation, GeneratedToken token)
    {
        metrics.GeneratedTokens.Inc();
        if (generation.TokensRead != 1) return;
        metrics.QueueTime.Observe(generation.QueueTime.TotalSeconds);
        metrics.TimeToFirstToken.Observe((generation.QueueTime + token.Elapsed).TotalSeconds);
    }

    public void Ended(RunningGeneration generation)
    {
        int tokens = generation.TokensRead;
        if (tokens >= 2)
            metrics.TimePerOutputToken.Observe((generation.LastTokenElapsed - generation.FirstTokenElapsed).TotalSeconds / (tokens - 1));
        // The route, not the path: the label takes a fixed set of values whatever the request's spelling.
        var endpoint = (generation.Http.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText?.TrimStart('/') ?? "generate";
        metrics.RequestDuration.WithLabels(endpoint).Observe(generation.Elapsed.TotalSeconds);
        var reason = generation.Finished?.Summary.FinishReason.Name() ?? (generation.ClientGone ? "cancelled" : "error");
        metrics.Generations.WithLabels(endpoint, reason).Inc();
    }
}

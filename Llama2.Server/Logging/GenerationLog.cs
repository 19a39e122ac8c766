using Llama2.Engine.Generation;

namespace Llama2.Server.Logging;

/// <summary>Keeps a finished generation's totals on its request, for the request's log line (see LoggingExtensions).</summary>
public sealed class GenerationLog : IGenerationObserver
{
    const string Key = "llama2.generation";

    public static GenerationSummary? Get(HttpContext http) => http.Items.TryGetValue(Key, out var value) ? value as GenerationSummary : null;

    public void Started(RunningGeneration generation) { }

    public void TokenRead(RunningGeneration generation, GeneratedToken token)
    {
        if (token.Summary is { } summary) generation.Http.Items[Key] = summary;
    }

    public void Ended(RunningGeneration generation) { }
}

using Llama2.Engine.Generation;

namespace Llama2.Server.Generation;

/// <summary>Hands a finished generation's totals to the request log line (see RequestLogging).</summary>
public static class GenerationLog
{
    const string Key = "llama2.generation";

    public static void Record(HttpContext http, GenerationSummary summary) => http.Items[Key] = summary;

    public static GenerationSummary? Get(HttpContext http) => http.Items.TryGetValue(Key, out var value) ? value as GenerationSummary : null;
}

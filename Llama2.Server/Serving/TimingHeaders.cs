using System.Globalization;

namespace Llama2.Server.Serving;

public static class TimingHeaders
{
    /// <summary>
    /// A finished generation's counts and timings as response headers, for every API's JSON answer:
    /// x-generated-tokens, x-prompt-tokens, x-inference-time, x-time-per-token, x-queue-time (ms), x-tokens-per-second.
    /// </summary>
    public static void Write(HttpResponse response, FinishedGeneration finished)
    {
        var summary = finished.Summary;
        var headers = response.Headers;
        var inv = CultureInfo.InvariantCulture;
        double inferenceMs = summary.TotalTime.TotalMilliseconds;
        headers["x-generated-tokens"] = summary.GeneratedTokens.ToString(inv);
        headers["x-prompt-tokens"] = summary.PromptTokens.ToString(inv);
        headers["x-inference-time"] = ((long)inferenceMs).ToString(inv);
        headers["x-time-per-token"] = ((long)(inferenceMs / Math.Max(1, summary.GeneratedTokens))).ToString(inv);
        headers["x-queue-time"] = ((long)finished.QueueTime.TotalMilliseconds).ToString(inv);
        headers["x-tokens-per-second"] = summary.TokensPerSecond.ToString("0.##", inv);
    }
}

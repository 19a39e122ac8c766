using System.ComponentModel.DataAnnotations;

namespace Llama2.Server.Api;

/// <summary>Limits on what one client request may ask for (configuration section <c>Api</c>).</summary>
public sealed class ApiOptions
{
    public const string Section = "Api";

    /// <summary>Largest request body; larger ones are answered 413.</summary>
    [Range(1024, 64 * 1024 * 1024)]
    public long MaxRequestBodyBytes { get; set; } = 128 * 1024;

    /// <summary>
    /// Longest input text (TGI's <c>inputs</c>, OpenAI's <c>prompt</c>, or a conversation's messages in all), checked
    /// before tokenizing (whose cost grows with the square of the length).
    /// </summary>
    [Range(1, 1_000_000)]
    public int MaxInputCharacters { get; set; } = 8192;

    /// <summary>Most messages in one chat completion request (the whole conversation).</summary>
    [Range(1, 10_000)]
    public int MaxChatMessages { get; set; } = 256;

    /// <summary>Most content parts in one chat message given as an array of parts.</summary>
    [Range(1, 10_000)]
    public int MaxContentParts { get; set; } = 32;

    /// <summary>Most stop sequences per request (TGI's max_stop_sequences).</summary>
    [Range(0, 64)]
    public int MaxStopSequences { get; set; } = 4;

    /// <summary>Longest stop sequence, in characters.</summary>
    [Range(1, 1024)]
    public int MaxStopSequenceLength { get; set; } = 64;

    /// <summary>Seconds without a token after which a stream gets a comment line, so proxies keep it open.</summary>
    [Range(1, 3600)]
    public int StreamHeartbeatSeconds { get; set; } = 15;

    /// <summary>Retry-After, in seconds, sent with 429 when the queue is full.</summary>
    [Range(1, 3600)]
    public int RetryAfterSeconds { get; set; } = 1;
}

namespace Llama2.Server.Generation;

/// <summary>TGI's /generate request.</summary>
public sealed record GenerateRequest
{
    /// <summary>The prompt text.</summary>
    public string? Inputs { get; init; }

    /// <summary>How to generate; every field is optional.</summary>
    public GenerateParameters? Parameters { get; init; }

    /// <summary>Stream the tokens as Server-Sent Events (as /generate_stream) instead of one JSON answer.</summary>
    public bool Stream { get; init; }
}

/// <summary>TGI's generation parameters.</summary>
public sealed record GenerateParameters
{
    /// <summary>Most tokens to generate (1 to the configured maximum; prompt + this must fit the context, unless it shifts).</summary>
    public int? MaxNewTokens { get; init; }

    /// <summary>Sampling temperature ≥ 0; 0 = greedy.</summary>
    public float? Temperature { get; init; }

    /// <summary>Nucleus sampling: keep the most likely tokens whose probabilities add up to top_p, in (0, 1].</summary>
    public float? TopP { get; init; }

    /// <summary>Keep only the top_k most likely tokens (≥ 1).</summary>
    public int? TopK { get; init; }

    /// <summary>Random seed; absent = a random one, reported in the details.</summary>
    public ulong? Seed { get; init; }

    /// <summary>Stop as soon as the text ends with one of these; the stop sequence is not returned.</summary>
    public IReadOnlyList<string>? Stop { get; init; }

    /// <summary>Penalty (&gt; 0) for tokens already in the sequence; 1 = none.</summary>
    public float? RepetitionPenalty { get; init; }

    /// <summary>Sample instead of picking the most likely token. As TGI: on when temperature, top_p or top_k is given.</summary>
    public bool? DoSample { get; init; }

    /// <summary>Return finish reason, tokens and timings.</summary>
    public bool Details { get; init; }

    /// <summary>Return the prompt tokens in details.prefill.</summary>
    public bool DecoderInputDetails { get; init; }

    /// <summary>Put the prompt in front of generated_text (non-streaming only).</summary>
    public bool? ReturnFullText { get; init; }

    /// <summary>Keep only the last this many prompt tokens (BOS stays first), 1 to max_input_tokens; absent = all.</summary>
    public int? Truncate { get; init; }

    /// <summary>
    /// Go on past the context window, dropping the oldest tokens after BOS (ours; absent = the server's
    /// Model:ContextShift): a prompt may then be longer than the context, and max_new_tokens larger than the room left.
    /// </summary>
    public bool? ContextShift { get; init; }
}

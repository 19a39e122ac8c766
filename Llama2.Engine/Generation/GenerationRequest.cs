using Llama2.Engine.Sampling;

namespace Llama2.Engine.Generation;

/// <summary>What to generate: a prompt (text or token ids), how to sample, and when to stop.</summary>
public sealed record GenerationRequest
{
    /// <summary>Prompt text, encoded as run.c does. Ignored when <see cref="PromptIds"/> is set.</summary>
    public string Prompt { get; init; } = "";
    /// <summary>Prompt as token ids, used as given (no BOS added).</summary>
    public IReadOnlyList<int>? PromptIds { get; init; }
    /// <summary>Put BOS before the encoded prompt text, as run.c does.</summary>
    public bool AddBos { get; init; } = true;
    /// <summary>
    /// Most tokens to generate; null = until the context (seq_len) is full, or with <see cref="ContextShift"/> without
    /// a limit (until EOS, a stop sequence, <see cref="MaxPositions"/> or cancellation).
    /// </summary>
    public int? MaxNewTokens { get; init; }
    /// <summary>
    /// Most positions the sequence may use in all: prompt and generated tokens, of every turn of a chat, those a context
    /// shift dropped included (run.c's -n in chat mode). Reaching it ends generation with
    /// <see cref="FinishReason.ContextFull"/>. null = the context, or no limit with <see cref="ContextShift"/>.
    /// </summary>
    public int? MaxPositions { get; init; }
    /// <summary>Go on past the end of the context window by dropping the oldest tokens; null = stop there, as run.c.</summary>
    public ContextShift? ContextShift { get; init; }
    public SamplingOptions Sampling { get; init; } = new();
    /// <summary>Generation stops as soon as the text ends with one of these; the stop sequence itself is not emitted.</summary>
    public IReadOnlyList<string> StopSequences { get; init; } = [];
    /// <summary>Stop when the model produces EOS (run.c's generate loop stops only at BOS).</summary>
    public bool StopAtEos { get; init; } = true;
    /// <summary>Stop when the model produces BOS, as run.c's generate loop does; its chat loop feeds BOS like any other token.</summary>
    public bool StopAtBos { get; init; } = true;
    /// <summary>
    /// Draw a sampling coin after every forward pass, each prompt token's included (those draws are thrown away), as
    /// run.c's chat loop does, so that a seed gives its tokens; run.c's generate loop draws only after the prompt.
    /// Changes nothing when greedy.
    /// </summary>
    public bool DrawAtEveryPosition { get; init; }
}

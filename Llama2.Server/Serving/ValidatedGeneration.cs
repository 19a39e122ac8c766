using Llama2.Engine.Generation;

namespace Llama2.Server.Serving;

/// <summary>
/// A generation request that passed every check, whichever API it came through: the engine's request (prompt as token
/// ids, sampling, stop sequences, max_new_tokens within the limits) and what the answer reports of it.
/// </summary>
/// <param name="Request">What the scheduler runs.</param>
/// <param name="PromptIds">The prompt's tokens (BOS first), as in <paramref name="Request"/>.</param>
/// <param name="Seed">The seed when sampling (given, or drawn with <see cref="RandomSeed"/>); null for greedy decoding.</param>
public sealed record ValidatedGeneration(GenerationRequest Request, int[] PromptIds, ulong? Seed)
{
    /// <summary>Prompt tokens left out before generation: by <c>truncate</c>, or a chat's oldest turns.</summary>
    public int TruncatedTokens { get; init; }

    /// <summary>A chat's messages left out (its oldest turns, two messages each).</summary>
    public int DroppedMessages { get; init; }

    /// <summary>A seed for a request that samples without one. Never zero, which would stall run.c's xorshift generator.</summary>
    public static ulong RandomSeed() => (ulong)Random.Shared.NextInt64(1, long.MaxValue);
}

using Llama2.Engine.Generation;

namespace Llama2.Engine.Scheduling;

/// <summary>
/// Sizes of the scheduler's queue, slots and per-request token buffers. The server binds them from its <c>Model</c>
/// configuration section, so the property names are its setting names.
/// </summary>
public sealed record SchedulerOptions
{
    /// <summary>
    /// Sequences generated at the same time (1 to 256); each holds one KV cache (slot) for its whole life.
    /// </summary>
    public int MaxConcurrentSequences { get; init; } = 8;

    /// <summary>
    /// Requests that may wait for a slot (1 to 100,000); beyond this, <see cref="GenerationScheduler.TrySubmit"/>
    /// refuses (the server answers 429).
    /// </summary>
    public int MaxQueueLength { get; init; } = 32;

    /// <summary>
    /// Tokens a sequence may run ahead of its reader (1 to 4096). When the buffer is full the sequence is paused (it
    /// keeps its slot but is not stepped), so a slow client costs a slot, never unbounded memory.
    /// </summary>
    public int TokenBufferSize { get; init; } = 64;

    /// <summary>
    /// Prompt tokens fed per step while other sequences are decoding (1 to 4096): a joining prompt then delays the
    /// running streams by about one step per chunk instead of by its whole prefill. When nothing is decoding, prompts
    /// go through in batches of <see cref="Inference.RunState.PrefillBatch"/> or more. The default lets a handful of
    /// short prompts that arrive together start within a step or two, while a step with a full chunk costs the
    /// running streams about one extra decode step.
    /// </summary>
    public int PrefillChunkTokens { get; init; } = 32;

    /// <summary>
    /// Positions each slot's KV cache holds (a request's prompt and generated tokens together; 0 to 1,000,000): the
    /// memory of a slot is 2 × layers × this × kv_dim × 4 bytes. 0, or more than the model's seq_len, means the model's
    /// seq_len.
    /// </summary>
    public int ContextTokensPerSlot { get; init; }

    /// <summary>Checks the sizes: every one out of its range, none when they are valid.</summary>
    public IReadOnlyList<OptionError> Validate()
    {
        var errors = new List<OptionError>();
        void Range(string name, int value, int min, int max)
        {
            if (value < min || value > max) errors.Add(new(name, $"{name} must be between {min} and {max} (it is {value})"));
        }
        Range(nameof(MaxConcurrentSequences), MaxConcurrentSequences, 1, 256);
        Range(nameof(MaxQueueLength), MaxQueueLength, 1, 100_000);
        Range(nameof(TokenBufferSize), TokenBufferSize, 1, 4096);
        Range(nameof(PrefillChunkTokens), PrefillChunkTokens, 1, 4096);
        Range(nameof(ContextTokensPerSlot), ContextTokensPerSlot, 0, 1_000_000);
        return errors;
    }
}

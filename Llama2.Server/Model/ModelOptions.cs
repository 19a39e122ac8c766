using System.ComponentModel.DataAnnotations;

namespace Llama2.Server.Model;

/// <summary>The model to serve and how the engine runs it (configuration section <c>Model</c>).</summary>
public sealed class ModelOptions
{
    public const string Section = "Model";

    /// <summary>llama2.c checkpoint (.bin); a relative path is taken from the working directory.</summary>
    [Required(AllowEmptyStrings = false, ErrorMessage = "Model:CheckpointPath is required (a llama2.c .bin checkpoint)")]
    public string CheckpointPath { get; set; } = "";

    /// <summary>llama2.c tokenizer.bin matching the checkpoint's vocabulary.</summary>
    [Required(AllowEmptyStrings = false, ErrorMessage = "Model:TokenizerPath is required (a llama2.c tokenizer.bin)")]
    public string TokenizerPath { get; set; } = "";

    /// <summary>Threads for the kernels; 0 = all cores.</summary>
    [Range(0, 256)]
    public int Threads { get; set; }

    /// <summary>Sequences generated at the same time, each with its own KV cache.</summary>
    [Range(1, 256)]
    public int MaxConcurrentSequences { get; set; } = 4;

    /// <summary>Requests that may wait for a free sequence slot; more are answered 429.</summary>
    [Range(1, 100_000)]
    public int MaxQueueLength { get; set; } = 32;

    /// <summary>Tokens a sequence may run ahead of a slow client before it is paused.</summary>
    [Range(1, 4096)]
    public int TokenBufferSize { get; set; } = 64;

    /// <summary>max_new_tokens when a request does not give it (capped by the room left in the context).</summary>
    [Range(1, 1_000_000)]
    public int DefaultMaxNewTokens { get; set; } = 100;

    /// <summary>Largest max_new_tokens a request may ask for.</summary>
    [Range(1, 1_000_000)]
    public int MaxNewTokens { get; set; } = 2048;
}

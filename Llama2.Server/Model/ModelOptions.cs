using System.ComponentModel.DataAnnotations;

namespace Llama2.Server.Model;

/// <summary>
/// The model to serve (configuration section <c>Model</c>). The scheduler's sizes (MaxConcurrentSequences,
/// MaxQueueLength, TokenBufferSize, PrefillChunkTokens, ContextTokensPerSlot) are set in the same section and bound
/// to the engine's own <see cref="Llama2.Engine.Scheduling.SchedulerOptions"/>, which checks them.
/// </summary>
public sealed class ModelOptions
{
    public const string Section = "Model";

    /// <summary>
    /// The model: a llama2.c checkpoint (.bin), a GGUF file (.gguf) or a Hugging Face model folder (config.json,
    /// safetensors, tokenizer.model); a relative path is taken from the working directory. When it is missing and
    /// <see cref="DownloadOptions.CheckpointUrl"/> is set, it is downloaded there before the server reports ready.
    /// Empty: the shipped default model (see <see cref="DefaultModelPaths"/>).
    /// </summary>
    public string CheckpointPath { get; set; } = "";

    /// <summary>
    /// llama2.c tokenizer.bin matching the checkpoint's vocabulary. Empty: tokenizer.bin beside a .bin checkpoint, the
    /// model's own vocabulary for a GGUF file or a Hugging Face folder.
    /// </summary>
    public string TokenizerPath { get; set; } = "";

    /// <summary>
    /// <c>none</c>: the weights as the model stores them (fp32, bf16, fp16, or int8 in a version 2 file or a GGUF Q8_0
    /// file); <c>q8_0</c>: float weights are quantized to int8 in memory at load (4× less memory traffic per token than
    /// fp32, 2× less than bf16).
    /// </summary>
    public string Quantization { get; set; } = "none";

    /// <summary><see cref="Quantization"/> as the engine's value, or null when it names none.</summary>
    public Llama2.Engine.Quantization? QuantizationValue => Quantization.ToLowerInvariant() switch
    {
        "none" => Llama2.Engine.Quantization.None,
        "q8_0" => Llama2.Engine.Quantization.Q8_0,
        _ => null,
    };

    /// <summary>Threads for the kernels; 0 = all cores.</summary>
    [Range(0, 256)]
    public int Threads { get; set; }

    /// <summary>max_new_tokens when a request does not give it (capped by the room left in the context).</summary>
    [Range(1, 1_000_000)]
    public int DefaultMaxNewTokens { get; set; } = 100;

    /// <summary>Largest max_new_tokens a request may ask for.</summary>
    [Range(1, 1_000_000)]
    public int MaxNewTokens { get; set; } = 2048;

    /// <summary>
    /// Whether a request that does not say (its <c>context_shift</c>) may go on past the context window, dropping its
    /// oldest tokens (a chat its oldest turns first). false: it stops there and a prompt that does not fit is refused.
    /// </summary>
    public bool ContextShift { get; set; }

    /// <summary>Where missing model files come from on first start (section <c>Model:Download</c>).</summary>
    public DownloadOptions Download { get; set; } = new();
}

/// <summary>
/// First-run acquisition of missing model files. Empty URLs turn it off; size and SHA-256 are checked when given.
/// </summary>
public sealed class DownloadOptions
{
    public string CheckpointUrl { get; set; } = "";
    public string TokenizerUrl { get; set; } = "";
    /// <summary>Expected checkpoint size in bytes; 0 = not checked.</summary>
    [Range(0, long.MaxValue)]
    public long CheckpointBytes { get; set; }
    /// <summary>Expected SHA-256 of the checkpoint (hex); empty = not checked.</summary>
    public string CheckpointSha256 { get; set; } = "";
    public string TokenizerSha256 { get; set; } = "";

    /// <summary>
    /// Where to fetch <paramref name="path"/> from, or null. A URL serves only a path with its file name, so that
    /// pointing CheckpointPath at some other missing file fails plainly instead of fetching the default model into it.
    /// </summary>
    static Llama2.Engine.Download.ModelSource? SourceFor(string path, string url, long bytes, string sha256) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
        && Path.GetFileName(uri.LocalPath) == Path.GetFileName(path)
            ? new(uri, bytes > 0 ? bytes : null, sha256.Length > 0 ? sha256 : null)
            : null;

    public Llama2.Engine.Download.ModelSource? CheckpointSourceFor(string path) => SourceFor(path, CheckpointUrl, CheckpointBytes, CheckpointSha256);
    public Llama2.Engine.Download.ModelSource? TokenizerSourceFor(string path) => SourceFor(path, TokenizerUrl, 0, TokenizerSha256);
}

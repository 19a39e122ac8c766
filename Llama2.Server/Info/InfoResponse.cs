namespace Llama2.Server.Info;

/// <summary>TGI's /info fields that apply here, plus the model's shape and the scheduler's load.</summary>
/// <param name="ModelId">The checkpoint's file name without extension (a Hugging Face folder's name).</param>
/// <param name="ModelDtype">The type the weights are computed in: float32, bfloat16, float16, or int8 for Q8_0 weights.</param>
/// <param name="Format">The model's file format: <c>llama2.c v0</c> (v1, v2), <c>gguf</c> or <c>safetensors</c> (a Hugging Face folder).</param>
/// <param name="Quantization">none (fp32), <c>q8_0 (file)</c> (a version 2 checkpoint) or <c>q8_0 (at load)</c>
/// (Model:Quantization).</param>
/// <param name="ModelDeviceType">cpu.</param>
/// <param name="MaxConcurrentRequests">Requests accepted at once: sequence slots + queue length.</param>
/// <param name="MaxBestOf">Always 1 (best_of is not supported).</param>
/// <param name="MaxStopSequences">Most stop sequences per request.</param>
/// <param name="MaxInputTokens">Most prompt tokens (BOS included).</param>
/// <param name="MaxTotalTokens">Prompt + max_new_tokens limit: the model's context (a request that shifts it goes on past it).</param>
/// <param name="MaxNewTokens">Largest max_new_tokens a request may ask for.</param>
/// <param name="ContextShift">Whether a request that does not say goes on past the context window (Model:ContextShift).</param>
/// <param name="MaxConcurrentSequences">Sequences generated at the same time.</param>
/// <param name="MaxQueueLength">Requests that may wait for a slot.</param>
/// <param name="QueueDepth">Requests waiting now.</param>
/// <param name="ActiveSequences">Sequences generating now.</param>
/// <param name="Threads">Kernel threads.</param>
/// <param name="Router">Server name.</param>
/// <param name="Version">Server version.</param>
/// <param name="Model">The checkpoint's shape.</param>
public sealed record InfoResponse(
    string ModelId,
    string ModelDtype,
    string Format,
    string Quantization,
    string ModelDeviceType,
    int MaxConcurrentRequests,
    int MaxBestOf,
    int MaxStopSequences,
    int MaxInputTokens,
    int MaxTotalTokens,
    int MaxNewTokens,
    bool ContextShift,
    int MaxConcurrentSequences,
    int MaxQueueLength,
    int QueueDepth,
    int ActiveSequences,
    int Threads,
    string Router,
    string Version,
    ModelInfo Model);

/// <summary>The checkpoint's shape and size (FileBytes: of the weights in memory when quantized at load).</summary>
public sealed record ModelInfo(
    int Dim,
    int HiddenDim,
    int NLayers,
    int NHeads,
    int NKvHeads,
    int VocabSize,
    int SeqLen,
    bool SharedClassifier,
    long Parameters,
    long FileBytes,
    double LoadTimeMs);

using Llama2.Engine.Generation;

namespace Llama2.Server.Generation;

/// <summary>A request that passed validation, as the engine takes it, plus what the answer should contain.</summary>
public sealed record ValidatedGeneration(
    GenerationRequest Request,
    string Inputs,
    int[] PromptIds,
    ulong? Seed,
    bool Details,
    bool DecoderInputDetails,
    bool ReturnFullText);

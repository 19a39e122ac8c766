using System.Diagnostics.CodeAnalysis;
using Llama2.Engine.Generation;
using Llama2.Engine.Sampling;
using Llama2.Server.Api;
using Llama2.Server.Model;

namespace Llama2.Server.Generation;

/// <summary>Checks a TGI request against the model and the limits, with TGI's wording, and builds the engine request.</summary>
public sealed class GenerationValidator(ModelOptions model, ApiOptions api)
{
    public bool TryValidate(GenerateRequest body, LoadedModel loaded,
        [NotNullWhen(true)] out ValidatedGeneration? generation, [NotNullWhen(false)] out string? error)
    {
        generation = null;
        error = Check(body, loaded, ref generation);
        return error is null;
    }

    string? Check(GenerateRequest body, LoadedModel loaded, ref ValidatedGeneration? generation)
    {
        var p = body.Parameters ?? new GenerateParameters();
        if (string.IsNullOrEmpty(body.Inputs)) return "`inputs` cannot be empty";
        if (body.Inputs.Length > api.MaxInputCharacters)
            return $"`inputs` must have at most {api.MaxInputCharacters} characters. Given: {body.Inputs.Length}";
        if (p.MaxNewTokens is <= 0) return "`max_new_tokens` must be strictly positive";
        if (p.MaxNewTokens > model.MaxNewTokens)
            return $"`max_new_tokens` must be <= {model.MaxNewTokens}. Given: {p.MaxNewTokens}";
        if (p.Temperature is { } t && !(t >= 0 && float.IsFinite(t))) return "`temperature` must be >= 0 (0 = greedy)";
        if (p.TopP is { } topP && !(topP > 0 && topP <= 1)) return "`top_p` must be > 0.0 and <= 1.0";
        if (p.TopK is <= 0) return "`top_k` must be strictly positive";
        if (p.RepetitionPenalty is { } r && !(r > 0 && float.IsFinite(r))) return "`repetition_penalty` must be strictly positive";
        var stops = p.Stop ?? [];
        if (stops.Count > api.MaxStopSequences)
            return $"`stop` supports up to {api.MaxStopSequences} stop sequences. Given: {stops.Count}";
        if (stops.Any(s => string.IsNullOrEmpty(s) || s.Length > api.MaxStopSequenceLength))
            return $"each `stop` sequence must have 1 to {api.MaxStopSequenceLength} characters";

        int maxTotal = loaded.Scheduler.ContextLength, maxInput = maxTotal - 1;
        var promptIds = loaded.Model.Tokenizer.Encode(body.Inputs, bos: true, eos: false).ToArray();
        if (promptIds.Length > maxInput)
            return $"`inputs` must have less than {maxTotal} tokens. Given: {promptIds.Length}";
        int room = maxTotal - promptIds.Length;
        if (p.MaxNewTokens is { } asked && promptIds.Length + asked > maxTotal)
            return $"`inputs` tokens + `max_new_tokens` must be <= {maxTotal}. Given: {promptIds.Length} `inputs` tokens and {asked} `max_new_tokens`";
        int maxNewTokens = p.MaxNewTokens ?? Math.Min(model.DefaultMaxNewTokens, room);

        // TGI: sampling when asked for, or when a sampling parameter is given; temperature 0 is greedy (ours).
        bool sample = p.DoSample ?? (p.Temperature is not null || p.TopP is not null || p.TopK is not null);
        if (p.Temperature == 0) sample = false;
        ulong? seed = sample ? p.Seed ?? RandomSeed() : null;
        var sampling = new SamplingOptions
        {
            Temperature = sample ? p.Temperature ?? 1.0f : 0f,
            TopP = p.TopP ?? 1.0f,
            TopK = p.TopK ?? 0,
            Seed = seed ?? 1,
            RepetitionPenalty = p.RepetitionPenalty ?? 1.0f,
        };
        if (sampling.Validate() is [var problem, ..]) return problem.Message;

        var request = new GenerationRequest
        {
            PromptIds = promptIds,
            MaxNewTokens = maxNewTokens,
            Sampling = sampling,
            StopSequences = stops,
            StopAtEos = true,
        };
        generation = new ValidatedGeneration(request, body.Inputs, promptIds, seed, p.Details, p.DecoderInputDetails,
            p.ReturnFullText ?? false);
        return null;
    }

    // Zero would stall run.c's xorshift generator, so a drawn seed is never zero.
    static ulong RandomSeed() => (ulong)Random.Shared.NextInt64(1, long.MaxValue);
}

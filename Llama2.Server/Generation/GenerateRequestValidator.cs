using Llama2.Engine.Sampling;
using Llama2.Server.Model;

namespace Llama2.Server.Generation;

/// <summary>
/// Checks a TGI request and turns it into a <see cref="ValidatedGeneration"/>, with TGI's wording. TGI's own rules
/// on its parameters are here; the input text's rule is <see cref="InputText"/>, the server's limits are
/// <see cref="GenerationLimits"/>, and the sampler's ranges are the engine's (<see cref="SamplingOptions.Validate"/>).
/// </summary>
public sealed class GenerateRequestValidator(GenerationLimits limits, IOptions<ApiOptions> api)
{
    static readonly GenerationParameterNames Names = new("inputs", "max_new_tokens", "stop");

    public Checked<ValidatedGeneration> Validate(GenerateRequest body, LoadedModel loaded)
    {
        var p = body.Parameters ?? new GenerateParameters();
        var inputs = InputText.Check(body.Inputs, api.Value, Names.Prompt);
        if (!inputs.Passed) return inputs.Error;
        var stops = p.Stop ?? [];
        if ((limits.CheckMaxNewTokens(p.MaxNewTokens, Names) ?? CheckSampling(p) ?? limits.CheckStops(stops, Names)) is { } error)
            return error;

        // TGI: sampling when asked for, or when a sampling parameter is given; temperature 0 is greedy (ours).
        bool sample = (p.DoSample ?? (p.Temperature is not null || p.TopP is not null || p.TopK is not null)) && p.Temperature != 0;
        ulong? seed = sample ? p.Seed ?? ValidatedGeneration.RandomSeed() : null;
        var sampling = new SamplingOptions
        {
            Temperature = sample ? p.Temperature ?? 1.0f : 0f,
            TopP = p.TopP ?? 1.0f,
            TopK = p.TopK ?? 0,
            Seed = seed ?? 1,
            RepetitionPenalty = p.RepetitionPenalty ?? 1.0f,
        };
        return limits.Apply(loaded, inputs.Value, p.MaxNewTokens, sampling, seed, stops, Names,
            new ContextRequest(p.Truncate, p.ContextShift));
    }

    /// <summary>
    /// The sampling parameters as given: the engine says which are out of its ranges (temperature, repetition
    /// penalty), TGI's words say so. TGI's own ranges are narrower than the engine's where absent means off: a
    /// given top_p is in (0, 1] and a given top_k at least 1 (the engine reads top_p ≤ 0 or ≥ 1, and top_k 0, as off).
    /// </summary>
    static ApiError? CheckSampling(GenerateParameters p)
    {
        var given = new SamplingOptions
        {
            Temperature = p.Temperature ?? 1.0f,
            TopP = p.TopP ?? 1.0f,
            TopK = p.TopK ?? 0,
            RepetitionPenalty = p.RepetitionPenalty ?? 1.0f,
        }.Validate();
        bool OutOfRange(string option) => given.Any(e => e.Option == option);

        if (OutOfRange(nameof(SamplingOptions.Temperature))) return ApiError.Invalid("`temperature` must be >= 0 (0 = greedy)", "temperature");
        if (p.TopP is { } topP && !(topP > 0 && topP <= 1)) return ApiError.Invalid("`top_p` must be > 0.0 and <= 1.0", "top_p");
        if (p.TopK is <= 0) return ApiError.Invalid("`top_k` must be strictly positive", "top_k");
        if (OutOfRange(nameof(SamplingOptions.RepetitionPenalty)))
            return ApiError.Invalid("`repetition_penalty` must be strictly positive", "repetition_penalty");
        return null;
    }
}

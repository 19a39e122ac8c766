using Llama2.Engine.Generation;
using Llama2.Engine.Sampling;
using Llama2.Server.Api;
using Llama2.Server.Errors;
using Llama2.Server.Model;
using Microsoft.Extensions.Options;

namespace Llama2.Server.Serving;

/// <summary>
/// How an API names the parameters the shared limits speak of, so that their errors use the client's words
/// (TGI: inputs, max_new_tokens, stop).
/// </summary>
public sealed record GenerationParameterNames(string Prompt, string MaxNewTokens, string Stop);

/// <summary>
/// The server's limits on one generation, the same whichever API asks for it: max_new_tokens up to Model:MaxNewTokens,
/// Api:MaxStopSequences stop sequences of at most Api:MaxStopSequenceLength characters, and prompt plus new tokens
/// within a sequence slot's context. (The input text's own rule is <see cref="InputText"/>.)
/// </summary>
public sealed class GenerationLimits(IOptions<ModelOptions> model, IOptions<ApiOptions> api)
{
    public ApiError? CheckMaxNewTokens(int? asked, GenerationParameterNames names) => asked switch
    {
        <= 0 => ApiError.Invalid($"`{names.MaxNewTokens}` must be strictly positive", names.MaxNewTokens),
        { } n when n > model.Value.MaxNewTokens =>
            ApiError.Invalid($"`{names.MaxNewTokens}` must be <= {model.Value.MaxNewTokens}. Given: {n}", names.MaxNewTokens),
        _ => null,
    };

    public ApiError? CheckStops(IReadOnlyList<string> stops, GenerationParameterNames names)
    {
        var limits = api.Value;
        if (stops.Count > limits.MaxStopSequences)
            return ApiError.Invalid($"`{names.Stop}` supports up to {limits.MaxStopSequences} stop sequences. Given: {stops.Count}", names.Stop);
        if (stops.Any(s => string.IsNullOrEmpty(s) || s.Length > limits.MaxStopSequenceLength))
            return ApiError.Invalid($"each `{names.Stop}` sequence must have 1 to {limits.MaxStopSequenceLength} characters", names.Stop);
        return null;
    }

    /// <summary>
    /// Tokenizes the prompt (BOS first), checks it and max_new_tokens against the context of a sequence slot (the
    /// prompt must leave room for one new token), and gives the engine's request. Without max_new_tokens a request
    /// gets Model:DefaultMaxNewTokens, or the room left in the context if that is less.
    /// </summary>
    public Checked<ValidatedGeneration> Apply(LoadedModel loaded, string prompt, int? maxNewTokens, SamplingOptions sampling,
        ulong? seed, IReadOnlyList<string> stops, GenerationParameterNames names) =>
        Apply(loaded, loaded.Model.Tokenizer.Encode(prompt, bos: true, eos: false).ToArray(), maxNewTokens, sampling, seed, stops, names);

    /// <summary>The same for a prompt already encoded (a conversation, through the chat template).</summary>
    public Checked<ValidatedGeneration> Apply(LoadedModel loaded, int[] promptIds, int? maxNewTokens, SamplingOptions sampling,
        ulong? seed, IReadOnlyList<string> stops, GenerationParameterNames names)
    {
        int maxTotal = loaded.Scheduler.ContextLength, maxInput = maxTotal - 1;
        if (promptIds.Length > maxInput)
            return ApiError.Invalid($"`{names.Prompt}` must have less than {maxTotal} tokens. Given: {promptIds.Length}", names.Prompt);
        if (maxNewTokens is { } asked && promptIds.Length + asked > maxTotal)
            return ApiError.Invalid($"`{names.Prompt}` tokens + `{names.MaxNewTokens}` must be <= {maxTotal}. " +
                $"Given: {promptIds.Length} `{names.Prompt}` tokens and {asked} `{names.MaxNewTokens}`", names.MaxNewTokens);

        var request = new GenerationRequest
        {
            PromptIds = promptIds,
            MaxNewTokens = maxNewTokens ?? Math.Min(model.Value.DefaultMaxNewTokens, maxTotal - promptIds.Length),
            Sampling = sampling,
            StopSequences = stops,
            StopAtEos = true,
        };
        return new ValidatedGeneration(request, promptIds, seed);
    }
}

using Llama2.Engine.Generation;
using Llama2.Engine.Sampling;
using Llama2.Engine.Tokenization;
using Llama2.Server.Model;

namespace Llama2.Server.Serving;

/// <summary>
/// How an API names the parameters the shared limits speak of, so that their errors use the client's words
/// (TGI: inputs, max_new_tokens, stop).
/// </summary>
public sealed record GenerationParameterNames(string Prompt, string MaxNewTokens, string Stop);

/// <summary>
/// What a request asks of the context window, and what was already left out of its prompt.
/// </summary>
/// <param name="Truncate">Keep only the last this many prompt tokens, BOS staying first (TGI's <c>truncate</c>); null = all.</param>
/// <param name="ContextShift">Go on past the window by dropping the oldest tokens; null = the server's Model:ContextShift.</param>
/// <param name="Keep">Leading prompt tokens a shift never drops: BOS, and a chat's system prompt.</param>
/// <param name="DroppedMessages">A chat's messages left out before (its oldest turns).</param>
/// <param name="TruncatedTokens">The prompt tokens those messages were.</param>
public sealed record ContextRequest(int? Truncate = null, bool? ContextShift = null, int Keep = 1, int DroppedMessages = 0,
    int TruncatedTokens = 0);

/// <summary>
/// The server's limits on one generation, the same whichever API asks for it: max_new_tokens up to Model:MaxNewTokens,
/// Api:MaxStopSequences stop sequences of at most Api:MaxStopSequenceLength characters, and prompt plus new tokens
/// within a sequence slot's context unless the request may go on past it (a context shift: its own choice, else
/// Model:ContextShift). (The input text's own rule is <see cref="InputText"/>.)
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

    /// <summary>Whether a request goes on past the context window: its own choice, else Model:ContextShift.</summary>
    public bool ContextShift(bool? asked) => asked ?? model.Value.ContextShift;

    /// <summary>
    /// Most prompt tokens a chat that goes on past the window keeps before its oldest turns are left out: room is left
    /// for the reply's max_new_tokens (else Model:DefaultMaxNewTokens), up to half the window.
    /// </summary>
    public int ConversationTokens(LoadedModel loaded, int? maxNewTokens)
    {
        int context = loaded.Scheduler.ContextLength;
        return context - Math.Min(maxNewTokens ?? model.Value.DefaultMaxNewTokens, context / 2);
    }

    /// <summary>
    /// Tokenizes the prompt (BOS first), then as <see cref="Apply(LoadedModel, int[], int?, SamplingOptions, ulong?, IReadOnlyList{string}, GenerationParameterNames, ContextRequest?)"/>.
    /// </summary>
    public Checked<ValidatedGeneration> Apply(LoadedModel loaded, string prompt, int? maxNewTokens, SamplingOptions sampling,
        ulong? seed, IReadOnlyList<string> stops, GenerationParameterNames names, ContextRequest? context = null) =>
        Apply(loaded, loaded.Model.Tokenizer.Encode(prompt, bos: true, eos: false).ToArray(), maxNewTokens, sampling, seed, stops,
            names, context);

    /// <summary>
    /// Cuts the prompt to its last <see cref="ContextRequest.Truncate"/> tokens when asked; without a context shift,
    /// checks it and max_new_tokens against the context of a sequence slot (the prompt must leave room for one new
    /// token); and gives the engine's request. Without max_new_tokens a request gets Model:DefaultMaxNewTokens, cut to
    /// the room left in the context unless it shifts.
    /// </summary>
    public Checked<ValidatedGeneration> Apply(LoadedModel loaded, int[] promptIds, int? maxNewTokens, SamplingOptions sampling,
        ulong? seed, IReadOnlyList<string> stops, GenerationParameterNames names, ContextRequest? context = null)
    {
        context ??= new ContextRequest();
        int maxTotal = loaded.Scheduler.ContextLength, maxInput = maxTotal - 1;
        int truncated = 0;
        if (context.Truncate is { } truncate)
        {
            if (truncate < 1 || truncate > maxInput)
                return ApiError.Invalid($"`truncate` must be between 1 and {maxInput} (the longest prompt). Given: {truncate}", "truncate");
            truncated = Math.Max(0, promptIds.Length - truncate);
            promptIds = LastTokens(promptIds, truncate);
        }
        bool shift = ContextShift(context.ContextShift);
        if (!shift && promptIds.Length > maxInput)
            return ApiError.Invalid($"`{names.Prompt}` must have less than {maxTotal} tokens. Given: {promptIds.Length}", names.Prompt);
        if (!shift && maxNewTokens is { } asked && promptIds.Length + asked > maxTotal)
            return ApiError.Invalid($"`{names.Prompt}` tokens + `{names.MaxNewTokens}` must be <= {maxTotal}. " +
                $"Given: {promptIds.Length} `{names.Prompt}` tokens and {asked} `{names.MaxNewTokens}`", names.MaxNewTokens);

        int defaultNewTokens = model.Value.DefaultMaxNewTokens;
        var request = new GenerationRequest
        {
            PromptIds = promptIds,
            MaxNewTokens = maxNewTokens ?? (shift ? defaultNewTokens : Math.Min(defaultNewTokens, maxTotal - promptIds.Length)),
            Sampling = sampling,
            StopSequences = stops,
            StopAtEos = true,
            ContextShift = shift ? new ContextShift { Keep = Math.Clamp(context.Keep, 0, maxTotal - 1) } : null,
        };
        return new ValidatedGeneration(request, promptIds, seed)
        {
            TruncatedTokens = context.TruncatedTokens + truncated,
            DroppedMessages = context.DroppedMessages,
        };
    }

    /// <summary>The last <paramref name="count"/> tokens of a prompt, BOS staying first when it opens it.</summary>
    static int[] LastTokens(int[] promptIds, int count)
    {
        if (promptIds.Length <= count) return promptIds;
        return promptIds[0] == Tokenizer.Bos ? [Tokenizer.Bos, .. promptIds[^(count - 1)..]] : promptIds[^count..];
    }
}

using Llama2.Server.Model;

namespace Llama2.Server.Serving;

/// <summary>
/// Hands validated generations to the loaded model's scheduler, for every API. The client's disconnect goes with the
/// request down to the token loop; a full queue is <see cref="ApiError.Overloaded"/>.
/// </summary>
public sealed class GenerationQueue(IEnumerable<IGenerationObserver> observers, IOptions<ApiOptions> api)
{
    readonly IGenerationObserver[] _observers = observers.ToArray();

    public Checked<RunningGeneration> Submit(LoadedModel loaded, ValidatedGeneration generation, HttpContext http) =>
        loaded.Scheduler.TrySubmit(generation.Request, http.RequestAborted, out var scheduled)
            ? new RunningGeneration(http, generation, scheduled, _observers)
            : ApiError.Overloaded(api.Value.RetryAfterSeconds);
}

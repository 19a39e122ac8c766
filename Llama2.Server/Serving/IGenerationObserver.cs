using Llama2.Engine.Generation;

namespace Llama2.Server.Serving;

/// <summary>
/// Watches every generation an API serves (the metrics, the request log), without the APIs knowing who watches.
/// Called on the request's own flow; keep it quick.
/// </summary>
public interface IGenerationObserver
{
    /// <summary>The scheduler accepted the request.</summary>
    void Started(RunningGeneration generation);

    /// <summary>The API read a token to send to the client; the last one carries the summary.</summary>
    void TokenRead(RunningGeneration generation, GeneratedToken token);

    /// <summary>The request ended: finished (<see cref="RunningGeneration.Finished"/>), failed, or the client went away.</summary>
    void Ended(RunningGeneration generation);
}

using Llama2.Engine.Generation;

namespace Llama2.Server.Generation;

/// <summary>
/// A generation streamed in TGI's shape: one <c>data:</c> event per token (<see cref="StreamResponse"/>), the last one
/// with the text and the details; an error after the stream started is an event with TGI's error body.
/// </summary>
public sealed class TokenStreamResult(RunningGeneration generation, TimeSpan heartbeat)
    : GenerationStreamResult(generation, heartbeat)
{
    protected override ValueTask WriteTokenAsync(ServerSentEventWriter events, GeneratedToken token)
    {
        var finished = Generation.Finished; // set with the last token
        return events.WriteJsonAsync(new StreamResponse(token.Index + 1, token.ToTokenInfo(), finished?.Summary.GeneratedText,
            finished?.ToDetails()));
    }

    protected override ValueTask WriteErrorAsync(ServerSentEventWriter events, ApiError error) =>
        events.WriteJsonAsync(TgiErrors.Body(error));
}

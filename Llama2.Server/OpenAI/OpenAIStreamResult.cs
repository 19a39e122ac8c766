using Llama2.Engine.Generation;

namespace Llama2.Server.OpenAI;

/// <summary>
/// A generation streamed in OpenAI's shape: a chunk for each piece of text as it comes (with the log-probabilities of
/// its tokens when asked for), a last chunk of the choice with its finish reason, with include_usage a chunk whose
/// choices are empty and whose usage is set, then <c>data: [DONE]</c>. An error after the stream started is a
/// <c>data:</c> event with OpenAI's error body, then <c>[DONE]</c>. The endpoint's chunk shape is the subclass's.
/// </summary>
public abstract class OpenAIStreamResult(RunningGeneration generation, TimeSpan heartbeat, OpenAIReply reply, bool includeUsage)
    : GenerationStreamResult(generation, heartbeat)
{
    static readonly byte[] Done = "[DONE]"u8.ToArray();

    List<TokenLogprobEntry>? _pending; // log-probabilities of tokens whose text has not gone out yet

    protected OpenAIReply Reply => reply;

    /// <summary>A chunk of the choice: text (null on the last), its tokens' log-probabilities, the finish reason on the last.</summary>
    protected abstract object Chunk(string? text, IReadOnlyList<TokenLogprobEntry>? logprobs, string? finishReason);

    /// <summary>The chunk with no choice and the usage.</summary>
    protected abstract object UsageChunk(Usage usage);

    protected override ValueTask WriteTokenAsync(ServerSentEventWriter events, GeneratedToken token)
    {
        var (text, logprob) = reply.Read(token);
        if (logprob is not null) (_pending ??= []).Add(logprob);
        return text.Length == 0 ? ValueTask.CompletedTask : events.WriteJsonAsync(Chunk(text, TakePending(), null));
    }

    protected override async ValueTask WriteFinishedAsync(ServerSentEventWriter events, FinishedGeneration finished)
    {
        await events.WriteJsonAsync(Chunk(null, TakePending(), OpenAIReply.FinishReason(finished)));
        if (includeUsage) await events.WriteJsonAsync(UsageChunk(OpenAIReply.Usage(finished)));
    }

    protected override ValueTask WriteErrorAsync(ServerSentEventWriter events, ApiError error) =>
        events.WriteJsonAsync(OpenAIErrors.Body(error));

    protected override ValueTask WriteEndAsync(ServerSentEventWriter events) => events.WriteDataAsync(Done);

    List<TokenLogprobEntry>? TakePending()
    {
        var taken = _pending;
        _pending = null;
        return taken;
    }
}

/// <summary>A streamed chat completion: chat.completion.chunk events, the first with <c>delta.role</c> "assistant".</summary>
public sealed class ChatCompletionStreamResult(RunningGeneration generation, TimeSpan heartbeat, OpenAIReply reply, bool includeUsage)
    : OpenAIStreamResult(generation, heartbeat, reply, includeUsage)
{
    protected override ValueTask WriteStartAsync(ServerSentEventWriter events) =>
        events.WriteJsonAsync(Chunk(new ChatCompletionDelta("assistant", ""), null, null));

    protected override object Chunk(string? text, IReadOnlyList<TokenLogprobEntry>? logprobs, string? finishReason) =>
        Chunk(new ChatCompletionDelta(null, text), logprobs, finishReason);

    ChatCompletionChunk Chunk(ChatCompletionDelta delta, IReadOnlyList<TokenLogprobEntry>? logprobs, string? finishReason) =>
        new(Reply.Id, "chat.completion.chunk", Reply.Created, Reply.Model, Reply.SystemFingerprint,
            [new ChatCompletionChunkChoice(0, delta, OpenAIReply.ChatLogprobs(logprobs), finishReason)], null);

    protected override object UsageChunk(Usage usage) =>
        new ChatCompletionChunk(Reply.Id, "chat.completion.chunk", Reply.Created, Reply.Model, Reply.SystemFingerprint, [], usage);
}

/// <summary>A streamed completion: text_completion chunks.</summary>
public sealed class CompletionStreamResult(RunningGeneration generation, TimeSpan heartbeat, OpenAIReply reply, bool includeUsage)
    : OpenAIStreamResult(generation, heartbeat, reply, includeUsage)
{
    protected override object Chunk(string? text, IReadOnlyList<TokenLogprobEntry>? logprobs, string? finishReason) =>
        new Completion(Reply.Id, "text_completion", Reply.Created, Reply.Model,
            [new CompletionChoice(text ?? "", 0, OpenAIReply.CompletionLogprobs(logprobs), finishReason)], null, Reply.SystemFingerprint);

    protected override object UsageChunk(Usage usage) =>
        new Completion(Reply.Id, "text_completion", Reply.Created, Reply.Model, [], usage, Reply.SystemFingerprint);
}

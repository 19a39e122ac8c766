using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using Llama2.Engine.Generation;
using Llama2.Engine.Scheduling;

namespace Llama2.Server.Serving;

/// <summary>
/// A generation the scheduler accepted, as the API reads it for its client: its tokens, what it has delivered so far,
/// and once the last token is read, what it finished with. Each read token is shown to the observers; disposing it
/// (when the request ends, however it ends) tells them it ended.
/// </summary>
public sealed class RunningGeneration : IDisposable
{
    readonly ScheduledGeneration _scheduled;
    readonly IReadOnlyList<IGenerationObserver> _observers;
    readonly long _acceptedAt = Stopwatch.GetTimestamp();
    bool _ended;

    internal RunningGeneration(HttpContext http, ValidatedGeneration generation, ScheduledGeneration scheduled,
        IReadOnlyList<IGenerationObserver> observers)
    {
        Http = http;
        Generation = generation;
        _scheduled = scheduled;
        _observers = observers;
        foreach (var observer in _observers) observer.Started(this);
    }

    /// <summary>The request it serves.</summary>
    public HttpContext Http { get; }

    public ValidatedGeneration Generation { get; }

    /// <summary>Time waiting for a sequence slot; zero until the sequence has started.</summary>
    public TimeSpan QueueTime => _scheduled.QueueTime;

    /// <summary>Since the scheduler accepted it.</summary>
    public TimeSpan Elapsed => Stopwatch.GetElapsedTime(_acceptedAt);

    /// <summary>Tokens read so far.</summary>
    public int TokensRead { get; private set; }

    /// <summary>When the first and the latest token read were generated, from the start of the sequence.</summary>
    public TimeSpan FirstTokenElapsed { get; private set; }
    public TimeSpan LastTokenElapsed { get; private set; }

    /// <summary>Set when the last token is read.</summary>
    public FinishedGeneration? Finished { get; private set; }

    /// <summary>Whether the client went away (its cancellation stops the sequence).</summary>
    public bool ClientGone => _scheduled.CancellationToken.IsCancellationRequested;

    /// <summary>Waits until a token can be read; false once the generation has ended (throws its error, if it failed).</summary>
    public ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken) => _scheduled.Tokens.WaitToReadAsync(cancellationToken);

    /// <summary>Reads a token that is ready.</summary>
    public bool TryRead([NotNullWhen(true)] out GeneratedToken? token)
    {
        if (!_scheduled.Tokens.TryRead(out token)) return false;
        if (TokensRead++ == 0) FirstTokenElapsed = token.Elapsed;
        LastTokenElapsed = token.Elapsed;
        if (token.Summary is { } summary)
            Finished = new FinishedGeneration(summary, Generation.Seed, QueueTime, Generation.TruncatedTokens, Generation.DroppedMessages);
        foreach (var observer in _observers) observer.TokenRead(this, token);
        return true;
    }

    /// <summary>Every token, as it comes.</summary>
    public async IAsyncEnumerable<GeneratedToken> ReadAllAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        while (await WaitToReadAsync(cancellationToken))
            while (TryRead(out var token)) yield return token;
    }

    /// <summary>
    /// Reads every token to the end (for an API's single JSON answer), handing each to <paramref name="onToken"/>.
    /// Gives the finished generation, or the error that ended it (<see cref="GenerationFailures"/>); null when the
    /// client went away, as nobody is listening any more.
    /// </summary>
    public async Task<Checked<FinishedGeneration>?> ReadToEndAsync(Action<GeneratedToken> onToken)
    {
        try
        {
            await foreach (var token in ReadAllAsync(Http.RequestAborted)) onToken(token);
        }
        catch (OperationCanceledException) when (Http.RequestAborted.IsCancellationRequested)
        {
            return null;
        }
        catch (Exception e)
        {
            return GenerationFailures.ToApiError(e, Http.RequestServices.GetRequiredService<ILogger<RunningGeneration>>());
        }
        return Finished is { } finished ? finished : ApiError.GenerationFailed("generation ended without a result");
    }

    public void Dispose()
    {
        if (_ended) return;
        _ended = true;
        foreach (var observer in _observers) observer.Ended(this);
    }
}

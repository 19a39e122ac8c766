using System.Diagnostics;
using System.Threading.Channels;
using Llama2.Engine.Generation;

namespace Llama2.Engine.Scheduling;

/// <summary>
/// A request handed to the <see cref="GenerationScheduler"/>: the caller reads its tokens from <see cref="Tokens"/>
/// as the scheduler produces them. The channel completes after the final token (the one with a summary), with the
/// error if generation failed, or early if the request was cancelled.
/// </summary>
public sealed class ScheduledGeneration
{
    readonly Channel<GeneratedToken> _tokens;
    long _startedAt;

    internal ScheduledGeneration(GenerationRequest request, int tokenBufferSize, CancellationToken cancellationToken)
    {
        Request = request;
        CancellationToken = cancellationToken;
        EnqueuedAt = Stopwatch.GetTimestamp();
        // One writer (the scheduler loop), one reader (the endpoint). The loop never blocks on it: it checks for room
        // before stepping the sequence, so Wait mode is only a safety net.
        _tokens = Channel.CreateBounded<GeneratedToken>(new BoundedChannelOptions(tokenBufferSize)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        Capacity = tokenBufferSize;
    }

    public GenerationRequest Request { get; }

    /// <summary>Cancelling it (e.g. the client went away) stops the sequence before its next token and frees its slot.</summary>
    public CancellationToken CancellationToken { get; }

    /// <summary>The generated tokens, in order.</summary>
    public ChannelReader<GeneratedToken> Tokens => _tokens.Reader;

    /// <summary>Time spent waiting in the queue for a slot; zero until the sequence has started.</summary>
    public TimeSpan QueueTime => Volatile.Read(ref _startedAt) is var started and > 0
        ? Stopwatch.GetElapsedTime(EnqueuedAt, started)
        : TimeSpan.Zero;

    /// <summary>Whether the scheduler has given it a slot.</summary>
    public bool HasStarted => Volatile.Read(ref _startedAt) > 0;

    internal long EnqueuedAt { get; }
    internal int Capacity { get; }

    /// <summary>Whether the reader has room for another token; if not, the sequence waits.</summary>
    internal bool HasRoom => _tokens.Reader.Count < Capacity;

    internal ChannelWriter<GeneratedToken> Writer => _tokens.Writer;

    /// <summary>A task that completes when the reader has made room (cached: one waiter per pause).</summary>
    internal Task RoomAvailable
    {
        get
        {
            if (_roomAvailable is null || _roomAvailable.IsCompleted)
                _roomAvailable = _tokens.Writer.WaitToWriteAsync().AsTask();
            return _roomAvailable;
        }
    }
    Task<bool>? _roomAvailable;

    internal void MarkStarted() => Volatile.Write(ref _startedAt, Stopwatch.GetTimestamp());

    internal CancellationTokenRegistration CancellationRegistration { get; set; }

    internal void Complete(Exception? error = null)
    {
        CancellationRegistration.Dispose();
        _tokens.Writer.TryComplete(error);
    }
}

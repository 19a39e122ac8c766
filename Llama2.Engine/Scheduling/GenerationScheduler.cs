using System.Diagnostics.CodeAnalysis;
using System.Threading.Channels;
using Llama2.Engine.Generation;

namespace Llama2.Engine.Scheduling;

/// <summary>
/// Serves generation requests from many callers on one model. Requests wait in a bounded queue; a dedicated loop
/// thread owns the model and a fixed set of slots (KV caches), admits queued requests into free slots, and steps the
/// active sequences one token each in turn, so concurrent streams interleave. Each request's tokens go to its own
/// bounded channel (<see cref="ScheduledGeneration.Tokens"/>).
/// </summary>
/// <remarks>
/// Everything a batched forward pass would change lives in <see cref="StepActiveSequences"/>: the queue, the slots and
/// the token channels are the contract with callers, and stay as they are.
/// </remarks>
public sealed class GenerationScheduler : IAsyncDisposable
{
    readonly LlamaModel _model;
    readonly SchedulerOptions _options;
    readonly Channel<ScheduledGeneration> _queue;
    readonly SequenceSlot[] _slots;
    readonly List<SequenceSlot> _active = [];
    readonly CancellationTokenSource _stopping = new();
    readonly Thread _thread;
    readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    TaskCompletionSource _wake = NewWake();
    Task<bool>? _queueReadable;
    int _activeCount;
    long _completed;

    public GenerationScheduler(LlamaModel model, SchedulerOptions options)
    {
        options.Validate();
        _model = model;
        _options = options;
        _queue = Channel.CreateBounded<ScheduledGeneration>(new BoundedChannelOptions(options.QueueCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait, // TrySubmit uses TryWrite, so a full queue refuses at once
        });
        _slots = new SequenceSlot[options.MaxConcurrentSequences];
        for (int i = 0; i < _slots.Length; i++) _slots[i] = new SequenceSlot(model.Transformer.CreateState());
        _thread = new Thread(RunLoop) { IsBackground = true, Name = "llama2-scheduler" };
        _thread.Start();
    }

    public SchedulerOptions Options => _options;

    /// <summary>Requests waiting for a slot.</summary>
    public int QueueDepth => _queue.Reader.Count;

    /// <summary>Sequences holding a slot (generating, or paused because their reader is behind).</summary>
    public int ActiveSequences => Volatile.Read(ref _activeCount);

    /// <summary>Sequences finished since start (completed, failed or cancelled).</summary>
    public long CompletedSequences => Interlocked.Read(ref _completed);

    /// <summary>
    /// Queues a request. Returns false when the queue is full (the caller should answer "overloaded").
    /// <paramref name="cancellationToken"/> stops the sequence at its next token and frees its slot.
    /// </summary>
    public bool TrySubmit(GenerationRequest request, CancellationToken cancellationToken,
        [NotNullWhen(true)] out ScheduledGeneration? generation)
    {
        ObjectDisposedException.ThrowIf(_stopping.IsCancellationRequested, this);
        var candidate = new ScheduledGeneration(request, _options.TokenBufferSize, cancellationToken);
        // Wake the loop if it is waiting on something else when the cancellation comes.
        candidate.CancellationRegistration =
            cancellationToken.UnsafeRegister(static state => ((GenerationScheduler)state!).Wake(), this);
        if (!_queue.Writer.TryWrite(candidate))
        {
            candidate.CancellationRegistration.Dispose();
            generation = null;
            return false;
        }
        generation = candidate;
        return true;
    }

    void Wake() => Volatile.Read(ref _wake).TrySetResult();

    static TaskCompletionSource NewWake() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    void RunLoop()
    {
        try
        {
            while (!_stopping.IsCancellationRequested)
            {
                // A fresh wake signal before looking at the state: a wake-up that comes after this point is not lost.
                Volatile.Write(ref _wake, NewWake());
                RetireCancelled();
                Admit();
                if (!StepActiveSequences()) WaitForWork();
            }
        }
        catch (Exception e)
        {
            // A bug in the loop itself: fail every caller rather than leave them waiting forever.
            FailAll(e);
            _stopped.TrySetException(e);
            return;
        }
        FailAll(new OperationCanceledException("the generation service is stopping"));
        _stopped.TrySetResult();
    }

    /// <summary>Moves queued requests into free slots.</summary>
    void Admit()
    {
        while (_active.Count < _slots.Length && _queue.Reader.TryRead(out var generation))
        {
            if (generation.CancellationToken.IsCancellationRequested)
            {
                Finish(generation, new OperationCanceledException(generation.CancellationToken));
                continue;
            }
            var slot = _slots.First(s => s.IsFree);
            try
            {
                var sequence = _model.StartSequence(generation.Request, slot.State);
                generation.MarkStarted();
                slot.Assign(generation, sequence);
                _active.Add(slot);
                Volatile.Write(ref _activeCount, _active.Count);
            }
            catch (Exception e)
            {
                Finish(generation, e);
            }
        }
    }

    /// <summary>
    /// Steps every active sequence whose reader has room by one token (the first step also prefills the prompt).
    /// Returns whether any sequence made progress. This is the place for a batched forward over all of them.
    /// </summary>
    bool StepActiveSequences()
    {
        bool progressed = false;
        for (int i = 0; i < _active.Count; i++)
        {
            var slot = _active[i];
            var generation = slot.Generation!;
            if (generation.CancellationToken.IsCancellationRequested || !generation.HasRoom) continue;
            try
            {
                var token = slot.Sequence!.Next();
                progressed = true;
                if (token is not null) generation.Writer.TryWrite(token);
                if (token is null || token.Finish is not null) Release(i--, null);
            }
            catch (Exception e)
            {
                Release(i--, e);
            }
        }
        return progressed;
    }

    void RetireCancelled()
    {
        for (int i = 0; i < _active.Count; i++)
            if (_active[i].Generation!.CancellationToken is { IsCancellationRequested: true } token)
                Release(i--, new OperationCanceledException(token));
    }

    void Release(int activeIndex, Exception? error)
    {
        var slot = _active[activeIndex];
        var generation = slot.Generation!;
        _active.RemoveAt(activeIndex);
        slot.Release();
        Volatile.Write(ref _activeCount, _active.Count);
        Finish(generation, error);
    }

    void Finish(ScheduledGeneration generation, Exception? error)
    {
        generation.Complete(error);
        Interlocked.Increment(ref _completed);
    }

    /// <summary>Blocks the loop thread until a request arrives, a paused reader makes room, or a request is cancelled.</summary>
    void WaitForWork()
    {
        var waits = new List<Task>(_active.Count + 2) { _wake.Task };
        if (_active.Count < _slots.Length)
        {
            if (_queueReadable is null || _queueReadable.IsCompleted) _queueReadable = _queue.Reader.WaitToReadAsync().AsTask();
            waits.Add(_queueReadable);
        }
        foreach (var slot in _active) waits.Add(slot.Generation!.RoomAvailable);
        try
        {
            Task.WhenAny(waits).Wait(_stopping.Token);
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
    }

    void FailAll(Exception error)
    {
        for (int i = _active.Count - 1; i >= 0; i--) Release(i, error);
        _queue.Writer.TryComplete();
        while (_queue.Reader.TryRead(out var generation)) Finish(generation, error);
    }

    /// <summary>Stops the loop; requests still queued or running end with an <see cref="OperationCanceledException"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stopping.IsCancellationRequested) return;
        _stopping.Cancel();
        Wake();
        try
        {
            await _stopped.Task.ConfigureAwait(false);
        }
        catch
        {
            // The loop already failed every caller with its error.
        }
        _stopping.Dispose();
    }
}

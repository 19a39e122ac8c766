using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Threading.Channels;
using Llama2.Engine.Generation;
using Llama2.Engine.Inference;
using Llama2.Engine.Kernels;

namespace Llama2.Engine.Scheduling;

/// <summary>
/// Serves generation requests from many callers on one model (continuous batching). Requests wait in a bounded
/// queue; a dedicated loop thread owns the model and a fixed set of slots (KV caches), admits queued requests into
/// free slots as they free up, and at every step runs one forward pass for all active sequences together: one token
/// of each decoding sequence plus a bounded chunk of prompt tokens of the sequences that just joined. The weights are
/// read once per step for the whole batch instead of once per sequence. Each request's tokens go to its own bounded
/// channel (<see cref="ScheduledGeneration.Tokens"/>).
/// </summary>
/// <remarks>
/// A sequence's tokens do not depend on what it is batched with: every row of a batch is computed exactly as it would
/// be alone (see <see cref="TokenBatch"/>), and each sequence samples with its own parameters and random state. A
/// sequence whose context shifts (<see cref="ContextShift"/>) has its kept tokens to feed again: they go through in
/// chunks as a joining prompt does, while the others keep decoding.
/// </remarks>
public sealed class GenerationScheduler : IAsyncDisposable
{
    readonly LlamaModel _model;
    readonly SchedulerOptions _options;
    readonly Channel<ScheduledGeneration> _queue;
    readonly SequenceSlot[] _slots;
    readonly List<SequenceSlot> _active = []; // in order of admission: prompts are fed first come, first served
    readonly TokenBatch _batch;
    readonly Participant[] _participants;
    readonly CancellationTokenSource _stopping = new();
    readonly Thread _thread;
    readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    TaskCompletionSource _wake = NewWake();
    Task<bool>? _queueReadable;
    int _activeCount;
    long _completed;
    long _forwardPasses, _tokensFed;

    public GenerationScheduler(LlamaModel model, SchedulerOptions options)
    {
        if (options.Validate() is [var problem, ..]) throw new ArgumentOutOfRangeException(nameof(options), problem.Message);
        _model = model;
        _options = options;
        _queue = Channel.CreateBounded<ScheduledGeneration>(new BoundedChannelOptions(options.MaxQueueLength)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait, // TrySubmit uses TryWrite, so a full queue refuses at once
        });
        _slots = new SequenceSlot[options.MaxConcurrentSequences];
        int seqLen = model.Config.SeqLen;
        ContextLength = options.ContextTokensPerSlot is > 0 and var cap && cap < seqLen ? cap : seqLen;
        for (int i = 0; i < _slots.Length; i++)
        {
            var state = model.Transformer.CreateState(ContextLength);
            state.Commit(); // the slots are reused request after request: their memory is worth backing once, up front
            _slots[i] = new SequenceSlot(state);
        }
        // A step holds one token of every slot plus a chunk of prompt, or a whole prefill batch when nothing decodes.
        int capacity = Math.Min(options.MaxConcurrentSequences + Math.Max(options.PrefillChunkTokens, RunState.PrefillBatch),
            options.MaxConcurrentSequences * ContextLength);
        _batch = new TokenBatch(model.Config, capacity, options.MaxConcurrentSequences);
        _participants = new Participant[options.MaxConcurrentSequences];
        _thread = new Thread(RunLoop) { IsBackground = true, Name = "llama2-scheduler" };
        _thread.Start();
    }

    public SchedulerOptions Options => _options;

    /// <summary>
    /// Positions each slot holds: the longest prompt plus generated tokens a request can have, unless its context shifts.
    /// </summary>
    public int ContextLength { get; }

    /// <summary>Requests waiting for a slot.</summary>
    public int QueueDepth => _queue.Reader.Count;

    /// <summary>Sequences holding a slot (generating, or paused because their reader is behind).</summary>
    public int ActiveSequences => Volatile.Read(ref _activeCount);

    /// <summary>
    /// Raised on the scheduler's thread after every forward pass, with what went into it (for metrics and tests).
    /// Handlers must be quick: the next step waits for them.
    /// </summary>
    public event Action<SchedulerStep>? Stepped;

    /// <summary>Forward passes (steps) run since start.</summary>
    public long ForwardPasses => Interlocked.Read(ref _forwardPasses);

    /// <summary>Tokens fed through those passes (decoded and prompt tokens): over <see cref="ForwardPasses"/>, the mean batch.</summary>
    public long TokensFed => Interlocked.Read(ref _tokensFed);

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
                if (!sequence.Begin()) Release(slot, null); // nothing to generate (max_new_tokens 0)
            }
            catch (Exception e)
            {
                Finish(generation, e);
            }
        }
    }

    /// <summary>
    /// One forward pass for every active sequence whose reader has room: one token for each decoding sequence, and
    /// prompt tokens of new sequences up to a budget, so that a long prompt joining delays the others by about one
    /// step, not by its whole prefill (when nothing is decoding, prompts go through in full batches). Then each
    /// sequence that got logits samples its next token. Returns whether any sequence made progress.
    /// </summary>
    bool StepActiveSequences()
    {
        var started = Stopwatch.GetTimestamp();
        _batch.Clear();
        int count = 0, decodeTokens = 0, promptTokens = 0;
        foreach (var slot in _active)
            if (IsReady(slot) && slot.Sequence!.Unfed.Length == 1)
            {
                _participants[count++] = Join(slot, 1);
                decodeTokens++;
            }
        int budget = decodeTokens > 0 ? _options.PrefillChunkTokens : _batch.Capacity;
        foreach (var slot in _active)
        {
            int unfed = slot.Sequence!.Unfed.Length;
            if (unfed <= 1 || !IsReady(slot)) continue;
            int take = Math.Min(unfed, Math.Min(budget - promptTokens, _batch.Capacity - _batch.Count));
            if (take <= 0) break;
            _participants[count++] = Join(slot, take);
            promptTokens += take;
        }
        if (count == 0) return false;

        try
        {
            _model.Transformer.Forward(_batch);
        }
        catch (Exception e)
        {
            for (int i = 0; i < count; i++) Release(_participants[i].Slot, e);
            Array.Clear(_participants, 0, count);
            return true;
        }
        // Counted before any token is handed out, so a client that has its tokens sees the pass counted.
        Interlocked.Increment(ref _forwardPasses);
        Interlocked.Add(ref _tokensFed, decodeTokens + promptTokens);

        // Each sequence samples from its logits with its own sampler, so they can sample side by side (the softmax and
        // a top-p draw's sort run over the whole vocabulary: worth a thread each).
        var sampling = new SamplingJob(this, count);
        Workers.For(count, ref sampling);

        for (int i = 0; i < count; i++)
        {
            var (slot, _, _, token, error) = _participants[i];
            _participants[i] = default;
            if (error is not null) Release(slot, error);
            else if (token is not null)
            {
                slot.Generation!.Writer.TryWrite(token);
                if (token.Finish is not null) Release(slot, null);
            }
        }
        Stepped?.Invoke(new SchedulerStep(count, decodeTokens, promptTokens, Stopwatch.GetElapsedTime(started)));
        return true;
    }

    static bool IsReady(SequenceSlot slot) =>
        slot.Generation!.CancellationToken.IsCancellationRequested is false && slot.Generation.HasRoom;

    /// <summary>Adds the next <paramref name="take"/> unfed tokens of a slot's sequence to the batch.</summary>
    Participant Join(SequenceSlot slot, int take)
    {
        var sequence = slot.Sequence!;
        var unfed = sequence.Unfed;
        int logitsIndex = -1;
        for (int i = 0; i < take; i++)
            logitsIndex = _batch.Add(sequence.State, unfed[i], sequence.FedCount + i, logits: i == unfed.Length - 1);
        return new Participant(slot, take, logitsIndex);
    }

    /// <summary>
    /// A sequence's share of one step: how many of its tokens are fed, where its logits are (or −1), and then the
    /// token it sampled or what went wrong.
    /// </summary>
    record struct Participant(SequenceSlot Slot, int Fed, int LogitsIndex, GeneratedToken? Token = null, Exception? Error = null);

    /// <summary>Records what the pass fed, then samples the next token of each participant that got logits.</summary>
    void Sample(int index)
    {
        ref var p = ref _participants[index];
        try
        {
            var sequence = p.Slot.Sequence!;
            sequence.MarkFed(p.Fed);
            if (p.LogitsIndex >= 0) p.Token = sequence.Sample(_batch.Logits(p.LogitsIndex)); // else a prompt chunk that is not the last
        }
        catch (Exception e)
        {
            p.Error = e;
        }
    }

    readonly struct SamplingJob(GenerationScheduler scheduler, int count) : IRowJob
    {
        public long CostPerRow => 1 << 20; // worth a thread each
        public void Run(int start, int end)
        {
            for (int i = start; i < end && i < count; i++) scheduler.Sample(i);
        }
    }

    void RetireCancelled()
    {
        for (int i = 0; i < _active.Count; i++)
            if (_active[i].Generation!.CancellationToken is { IsCancellationRequested: true } token)
                Release(i--, new OperationCanceledException(token));
    }

    void Release(SequenceSlot slot, Exception? error) => Release(_active.IndexOf(slot), error);

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

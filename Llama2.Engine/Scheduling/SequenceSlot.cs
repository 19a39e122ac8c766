using Llama2.Engine.Generation;
using Llama2.Engine.Inference;

namespace Llama2.Engine.Scheduling;

/// <summary>
/// One KV cache and the sequence that currently owns it. The scheduler creates a fixed set of slots up front, so
/// the memory for concurrent sequences is allocated once and reused.
/// </summary>
sealed class SequenceSlot(RunState state)
{
    public RunState State { get; } = state;
    public ScheduledGeneration? Generation { get; private set; }
    public SequenceGenerator? Sequence { get; private set; }

    public bool IsFree => Generation is null;

    public void Assign(ScheduledGeneration generation, SequenceGenerator sequence)
    {
        Generation = generation;
        Sequence = sequence;
    }

    public void Release()
    {
        Generation = null;
        Sequence = null;
    }
}

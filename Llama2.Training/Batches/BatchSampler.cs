namespace Llama2.Training.Batches;

/// <summary>
/// Batches of random windows of seq_len + 1 tokens from a token source (as nanoGPT's get_batch): a window's first
/// seq_len tokens are the inputs, its last seq_len the targets. Where each window starts is drawn from a
/// <see cref="TrainingRandom"/>, whose state is all there is to this sampler, so a checkpoint that stores it resumes
/// the same sequence of batches.
/// </summary>
public sealed class BatchSampler
{
    readonly ITokenSource _source;
    readonly int[] _window;

    public BatchSampler(ITokenSource source, int sequences, int seqLen, TrainingRandom random)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(sequences);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(seqLen);
        if (source.Count < seqLen + 1)
            throw new ArgumentException($"the token source holds {source.Count} tokens, fewer than one window of seq_len + 1 = {seqLen + 1}");
        _source = source;
        Sequences = sequences;
        SeqLen = seqLen;
        Random = random;
        Inputs = new int[sequences * seqLen];
        Targets = new int[sequences * seqLen];
        _window = new int[seqLen + 1];
    }

    public int Sequences { get; }
    public int SeqLen { get; }
    /// <summary>The generator's state: where the next batch's windows start.</summary>
    public TrainingRandom Random;
    /// <summary>The last batch's inputs (sequences × seq_len).</summary>
    public int[] Inputs { get; }
    /// <summary>The last batch's targets: each input's next token.</summary>
    public int[] Targets { get; }

    /// <summary>Draws the next batch into <see cref="Inputs"/> and <see cref="Targets"/>.</summary>
    public void Next()
    {
        long starts = _source.Count - SeqLen; // windows [s, s + seq_len] with s in [0, count − seq_len − 1]
        for (int b = 0; b < Sequences; b++)
        {
            _source.CopyTo(Random.NextInt64(starts), _window);
            _window.AsSpan(0, SeqLen).CopyTo(Inputs.AsSpan(b * SeqLen));
            _window.AsSpan(1, SeqLen).CopyTo(Targets.AsSpan(b * SeqLen));
        }
    }
}

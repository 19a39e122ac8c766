using Llama2.Training.Diagnostics;
using Llama2.Engine.Inference;
using Llama2.Engine.Kernels;

namespace Llama2.Training.Layers;

/// <summary>
/// Rotary position embedding as run.c applies it: within each head, the pair (2i, 2i + 1) of a row at position p is
/// rotated by the angle p · 10000^(−2i/head_size). The backward pass rotates the gradient back (by −angle: the
/// rotation's transpose). Row t of a batch is position t mod seq_len: every sequence starts at 0.
/// </summary>
internal sealed unsafe class Rope
{
    readonly float[] _cos, _sin;

    public Rope(int headSize, int seqLen)
    {
        HeadSize = headSize;
        SeqLen = seqLen;
        Pairs = headSize / 2;
        _cos = new float[seqLen * Pairs];
        _sin = new float[seqLen * Pairs];
        // The engine's own table, read back by rotating (1, 0) in every pair: the result is (cos, sin) exactly, so the
        // trained model's rotations are the ones it will run with.
        var engine = new RotaryEmbedding(headSize, seqLen);
        var unit = new float[headSize];
        for (int pos = 0; pos < seqLen; pos++)
        {
            for (int i = 0; i < Pairs; i++) (unit[2 * i], unit[2 * i + 1]) = (1f, 0f);
            engine.Rotate(unit, pos);
            for (int i = 0; i < Pairs; i++) (_cos[pos * Pairs + i], _sin[pos * Pairs + i]) = (unit[2 * i], unit[2 * i + 1]);
        }
    }

    public int HeadSize { get; }
    public int SeqLen { get; }
    public int Pairs { get; }

    /// <summary>cos of every pair's angle at position p (Pairs values).</summary>
    public ReadOnlySpan<float> Cos(int pos) => _cos.AsSpan(pos * Pairs, Pairs);
    /// <summary>sin of every pair's angle at position p.</summary>
    public ReadOnlySpan<float> Sin(int pos) => _sin.AsSpan(pos * Pairs, Pairs);

    /// <summary>Rotates each row (width floats, whole heads) of the tokens in place, row t at position t mod seqLen.</summary>
    public void Forward(Span<float> rows, int tokens, int width, int seqLen)
    {
        using var timing = OperationTimes.Measure(Operation.RopeForward);
        Run(rows, tokens, width, seqLen, inverse: false);
    }

    /// <summary>The gradient of <see cref="Forward"/>: rotates each row of d(output) back, in place, into d(input).</summary>
    public void Backward(Span<float> rows, int tokens, int width, int seqLen)
    {
        using var timing = OperationTimes.Measure(Operation.RopeBackward);
        Run(rows, tokens, width, seqLen, inverse: true);
    }

    void Run(Span<float> rows, int tokens, int width, int seqLen, bool inverse)
    {
        if (width % HeadSize != 0 || seqLen > SeqLen || seqLen <= 0 || rows.Length < (long)tokens * width)
            throw new ArgumentException("rotary embedding sizes do not match");
        fixed (float* p = rows, cos = _cos, sin = _sin)
        {
            var job = new Job(p, cos, sin, width, seqLen, HeadSize, inverse);
            Workers.For(tokens, ref job);
        }
    }

    readonly struct Job(float* rows, float* cos, float* sin, int width, int seqLen, int headSize, bool inverse) : IRowJob
    {
        public long CostPerRow => 3L * width;

        public void Run(int start, int end)
        {
            int pairs = headSize / 2;
            for (int t = start; t < end; t++)
            {
                float* c = cos + t % seqLen * pairs, s = sin + t % seqLen * pairs;
                for (float* head = rows + (long)t * width, last = head + width; head < last; head += headSize)
                    for (int i = 0; i < pairs; i++)
                    {
                        float v0 = head[2 * i], v1 = head[2 * i + 1];
                        if (inverse)
                        {
                            head[2 * i] = v0 * c[i] + v1 * s[i];
                            head[2 * i + 1] = v1 * c[i] - v0 * s[i];
                        }
                        else
                        {
                            // The engine's expressions, operation for operation.
                            head[2 * i] = v0 * c[i] - v1 * s[i];
                            head[2 * i + 1] = v0 * s[i] + v1 * c[i];
                        }
                    }
            }
        }
    }
}

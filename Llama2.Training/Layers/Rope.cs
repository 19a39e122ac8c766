using Llama2.Training.Diagnostics;
using System.Runtime.Intrinsics;
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
    readonly float[] _cos, _sin, _cosWide, _sinWide;

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
        // Per element, for the vector path: cos of its pair, and ∓sin (− for the pair's first element, + for its second).
        _cosWide = new float[seqLen * headSize];
        _sinWide = new float[seqLen * headSize];
        for (int pos = 0; pos < seqLen; pos++)
            for (int i = 0; i < Pairs; i++)
            {
                int o = pos * headSize + 2 * i;
                _cosWide[o] = _cosWide[o + 1] = _cos[pos * Pairs + i];
                (_sinWide[o], _sinWide[o + 1]) = (-_sin[pos * Pairs + i], _sin[pos * Pairs + i]);
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
        fixed (float* p = rows, cos = _cosWide, sin = _sinWide)
        {
            var job = new Job(p, cos, sin, width, seqLen, HeadSize, inverse);
            Workers.For(tokens, ref job);
        }
    }

    /// <summary>
    /// Rows of the batch: y = x ⊙ cos + swap(x) ⊙ (∓sin), swap exchanging the two elements of each pair, i.e.
    /// (x0 c − x1 s, x1 c + x0 s), the engine's expressions with the same roundings (x1 · −s is −(x1 s) exactly, and
    /// a sum does not depend on its order); the inverse subtracts the second term.
    /// </summary>
    readonly struct Job(float* rows, float* cosWide, float* sinWide, int width, int seqLen, int headSize, bool inverse) : IRowJob
    {
        public long CostPerRow => 3L * width;

        public void Run(int start, int end)
        {
            for (int t = start; t < end; t++)
            {
                float* c = cosWide + t % seqLen * headSize, s = sinWide + t % seqLen * headSize;
                for (float* head = rows + (long)t * width, last = head + width; head < last; head += headSize)
                {
                    int i = 0;
                    if (Vector256.IsHardwareAccelerated)
                        for (; i <= headSize - 8; i += 8)
                        {
                            var x = Vector256.Load(head + i);
                            var swapped = Vector256.Shuffle(x, Vector256.Create(1, 0, 3, 2, 5, 4, 7, 6));
                            var a = x * Vector256.Load(c + i);
                            var b = swapped * Vector256.Load(s + i);
                            (inverse ? a - b : a + b).Store(head + i);
                        }
                    for (; i < headSize; i += 2)
                    {
                        float x0 = head[i], x1 = head[i + 1];
                        head[i] = inverse ? x0 * c[i] - x1 * s[i] : x0 * c[i] + x1 * s[i];
                        head[i + 1] = inverse ? x1 * c[i + 1] - x0 * s[i + 1] : x1 * c[i + 1] + x0 * s[i + 1];
                    }
                }
            }
        }
    }
}

namespace Llama2.Engine.Inference;

/// <summary>
/// RoPE as run.c applies it: within each head, pair (2i, 2i+1) is rotated by pos · θ^(−2i/head_size), θ 10000 unless
/// the model says otherwise (<see cref="Model.ModelConfig.RopeTheta"/>).
/// The cos/sin of every (position, pair) are computed once, at load.
/// </summary>
public sealed class RotaryEmbedding
{
    readonly float[] _cos, _sin;
    readonly int _pairs;

    public RotaryEmbedding(int headSize, int seqLen, float theta = Model.ModelConfig.DefaultRopeTheta)
    {
        _pairs = headSize / 2;
        _cos = new float[seqLen * _pairs];
        _sin = new float[seqLen * _pairs];
        for (int pos = 0; pos < seqLen; pos++)
            for (int i = 0; i < _pairs; i++)
            {
                float freq = 1.0f / MathF.Pow(theta, 2 * i / (float)headSize);
                float angle = pos * freq;
                _cos[pos * _pairs + i] = MathF.Cos(angle);
                _sin[pos * _pairs + i] = MathF.Sin(angle);
            }
    }

    /// <summary>
    /// Puts each head's elements of a vector computed with Hugging Face's row order (<see cref="Formats.RotaryLayout.HalfSplit"/>:
    /// element i and i + head_size/2 form pair i) into Meta's interleaved order (pair i = elements 2i, 2i+1), in place:
    /// the values are moved, not recomputed, so rotation and attention then give the bits of the interleaved weights.
    /// </summary>
    public void Interleave(Span<float> vector)
    {
        Span<float> head = stackalloc float[2 * _pairs];
        for (int start = 0; start < vector.Length; start += 2 * _pairs)
        {
            var v = vector.Slice(start, 2 * _pairs);
            v.CopyTo(head);
            for (int i = 0; i < _pairs; i++)
            {
                v[2 * i] = head[i];
                v[2 * i + 1] = head[_pairs + i];
            }
        }
    }

    /// <summary>Rotates every head of <paramref name="vector"/> (a multiple of head_size long) for position pos.</summary>
    public void Rotate(Span<float> vector, int pos)
    {
        var cos = _cos.AsSpan(pos * _pairs, _pairs);
        var sin = _sin.AsSpan(pos * _pairs, _pairs);
        for (int head = 0; head < vector.Length; head += 2 * _pairs)
        {
            var v = vector.Slice(head, 2 * _pairs);
            for (int i = 0; i < _pairs; i++)
            {
                float v0 = v[2 * i], v1 = v[2 * i + 1];
                v[2 * i] = v0 * cos[i] - v1 * sin[i];
                v[2 * i + 1] = v0 * sin[i] + v1 * cos[i];
            }
        }
    }
}

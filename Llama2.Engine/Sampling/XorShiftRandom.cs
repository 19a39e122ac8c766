namespace Llama2.Engine.Sampling;

/// <summary>run.c's xorshift64* generator, bit for bit, so that a seed gives the tokens it gives in llama2.c.</summary>
public struct XorShiftRandom(ulong seed)
{
    ulong _state = seed;

    public uint NextUInt32()
    {
        _state ^= _state >> 12;
        _state ^= _state << 25;
        _state ^= _state >> 27;
        return (uint)((_state * 0x2545F4914F6CDD1DUL) >> 32);
    }

    /// <summary>A float in [0, 1), drawn as run.c's <c>random_f32</c>.</summary>
    public float NextSingle() => (NextUInt32() >> 8) / 16777216.0f;
}

namespace Llama2.Engine.Tests.Batching;

public sealed unsafe class AlignedFloatsTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(288)]
    [InlineData(128 * 768)] // a prompt batch's activations: large enough for the large object heap
    public void Starts_on_a_cache_line_and_holds_exactly_its_length(int length)
    {
        for (int i = 0; i < 8; i++) // several allocations: each lands somewhere else
        {
            var buffer = new AlignedFloats(length);
            var span = buffer.AsSpan(0, length);
            fixed (float* p = span)
                Assert.Equal(0, (nint)p % 64);
            Assert.Equal(length, buffer.Length);
            Assert.Throws<ArgumentOutOfRangeException>(() => buffer.AsSpan(0, length + 1));
            Assert.Throws<ArgumentOutOfRangeException>(() => buffer.AsSpan(length, 1));
        }
    }
}

using Llama2.Engine.Generation;

namespace Llama2.Engine.Tests.Generation;

public sealed class StopSequenceFilterTests
{
    [Fact]
    public void Text_that_may_start_a_stop_sequence_is_held_back_then_released()
    {
        var filter = new StopSequenceFilter(["END"]);
        Assert.Equal("abc ", filter.Push("abc E", out bool stopped));
        Assert.False(stopped);
        Assert.Equal("", filter.Push("N", out stopped));
        Assert.Equal("ENx", filter.Push("x", out stopped));
        Assert.False(stopped);
    }

    [Fact]
    public void Stops_at_a_sequence_split_over_pieces_and_drops_it()
    {
        var filter = new StopSequenceFilter(["\n\n", "END"]);
        Assert.Equal("one", filter.Push("one\n", out bool stopped));
        Assert.False(stopped);
        Assert.Equal("", filter.Push("\ntwo", out stopped));
        Assert.True(stopped);
    }

    [Fact]
    public void The_earliest_stop_sequence_wins()
    {
        var filter = new StopSequenceFilter(["cd", "b"]);
        Assert.Equal("a", filter.Push("abcd", out bool stopped));
        Assert.True(stopped);
    }

    [Fact]
    public void Flush_releases_held_text()
    {
        var filter = new StopSequenceFilter(["xyz"]);
        Assert.Equal("a", filter.Push("axy", out _));
        Assert.Equal("xy", filter.Flush());
    }

    [Fact]
    public void No_stop_sequences_passes_everything()
    {
        var filter = new StopSequenceFilter(["", ""]);
        Assert.True(filter.IsEmpty);
        Assert.Equal("anything", filter.Push("anything", out bool stopped));
        Assert.False(stopped);
    }
}

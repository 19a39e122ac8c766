namespace Llama2.Engine.Tests.Generation;

public sealed class StopSequenceFilterTests
{
    /// <summary>Pushes <paramref name="piece"/>: the text the filter releases, and whether it stopped.</summary>
    static (string Released, bool Stopped) Push(StopSequenceFilter filter, string piece)
    {
        string released = filter.Push(piece, out bool stopped);
        return (released, stopped);
    }

    [Fact]
    public void Text_that_may_start_a_stop_sequence_is_held_back_then_released()
    {
        var filter = new StopSequenceFilter(["END"]);
        Assert.Equal(("abc ", false), Push(filter, "abc E"));
        Assert.Equal("", Push(filter, "N").Released);
        Assert.Equal(("ENx", false), Push(filter, "x"));
    }

    [Fact]
    public void Stops_at_a_sequence_split_over_pieces_and_drops_it()
    {
        var filter = new StopSequenceFilter(["\n\n", "END"]);
        Assert.Equal(("one", false), Push(filter, "one\n"));
        Assert.Equal(("", true), Push(filter, "\ntwo"));
    }

    [Fact]
    public void The_earliest_stop_sequence_wins()
    {
        var filter = new StopSequenceFilter(["cd", "b"]);
        Assert.Equal(("a", true), Push(filter, "abcd"));
    }

    [Fact]
    public void Flush_releases_held_text()
    {
        var filter = new StopSequenceFilter(["xyz"]);
        Assert.Equal("a", Push(filter, "axy").Released);
        Assert.Equal("xy", filter.Flush());
    }

    [Fact]
    public void No_stop_sequences_passes_everything()
    {
        var filter = new StopSequenceFilter(["", ""]);
        Assert.True(filter.IsEmpty);
        Assert.Equal(("anything", false), Push(filter, "anything"));
    }
}

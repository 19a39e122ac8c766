namespace Llama2.Engine.Tests.Tokenization;

public sealed class Utf8TextAssemblerTests
{
    [Fact]
    public void A_character_split_over_byte_tokens_comes_out_whole_with_its_last_byte()
    {
        var text = new Utf8TextAssembler();
        var llama = Encoding.UTF8.GetBytes("🦙");
        Assert.Equal("", text.Append(llama.AsSpan(0, 1)));
        Assert.Equal("", text.Append(llama.AsSpan(1, 1)));
        Assert.Equal("", text.Append(llama.AsSpan(2, 1)));
        Assert.Equal("🦙", text.Append(llama.AsSpan(3, 1)));
        Assert.Equal("", text.Flush());
    }

    [Fact]
    public void Complete_text_passes_straight_through() =>
        Assert.Equal(" héllo", new Utf8TextAssembler().Append(Encoding.UTF8.GetBytes(" héllo")));

    [Fact]
    public void Invalid_bytes_become_replacement_characters_never_invalid_utf8()
    {
        var text = new Utf8TextAssembler();
        var output = text.Append([0xFF, (byte)'a', 0xC3]) + text.Append([(byte)'b']) + text.Flush();
        Assert.Equal("\uFFFDa\uFFFDb", output);
        Assert.Equal(output, Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(output)));
    }

    [Fact]
    public void An_incomplete_character_at_the_end_is_flushed_as_a_replacement() =>
        Assert.Equal("\uFFFD", new Func<string>(() =>
        {
            var text = new Utf8TextAssembler();
            return text.Append([0xF0, 0x9F]) + text.Flush();
        })());

    [Fact]
    public void Long_input_is_converted_in_full()
    {
        var input = string.Concat(Enumerable.Repeat("ab€🦙", 100));
        var text = new Utf8TextAssembler();
        Assert.Equal(input, text.Append(Encoding.UTF8.GetBytes(input)) + text.Flush());
    }
}

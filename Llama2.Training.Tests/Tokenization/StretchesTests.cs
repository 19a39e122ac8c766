namespace Llama2.Training.Tests.Tokenization;

public sealed class StretchesTests
{
    static List<string> Of(string document)
    {
        var stretches = new List<string>();
        foreach (var stretch in Stretches.Of(document)) stretches.Add(stretch.ToString());
        return stretches;
    }

    [Theory]
    [InlineData("Hello world", new[] { " Hello", " world" })]
    [InlineData("said, \"Go!\"", new[] { " said", ",", " \"", "Go", "!\"" })]
    [InlineData("a  b   c", new[] { " a", "  b", "   c" })]
    [InlineData("In 1611 the end.\n\nAmen ", new[] { " In", " ", "1", "6", "1", "1", " the", " end", ".\n\n", "Amen", " " })]
    [InlineData("naïve Москва日本語テキスト🦙x", new[] { " naïve", " Москва", "日本語テキスト", "🦙", "x" })]
    [InlineData("e\u0301clair", new[] { " e\u0301clair" })]
    [InlineData("", new string[0])]
    public void Stretches_end_where_no_piece_may_continue(string document, string[] expected) =>
        Assert.Equal(expected, Of(document));

    [Fact]
    public void Stretches_put_back_together_give_the_document_after_its_dummy_prefix()
    {
        var document = "  Tabs\tand\nlines, 42 “quotes” — 👩‍👧 ½ 𝔘𝔫𝔦 \uD800 lone";
        Assert.Equal(" " + document, string.Concat(Of(document)));
    }
}

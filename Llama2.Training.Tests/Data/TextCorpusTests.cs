namespace Llama2.Training.Tests.Data;

public sealed class TextCorpusTests
{
    static List<string> Read(TextCorpus corpus) =>
        corpus.ReadDocuments(TestContext.Current.CancellationToken).Select(d => d.Text).ToList();

    static List<string> Read(string path, DocumentSplit split) => Read(TextCorpus.Open([path], split));

    const string Text = "  First paragraph,\r\nsecond line.\r\n\r\n \t \nSecond paragraph.\n\n\n\nThird.  \n";

    [Fact]
    public void Paragraphs_are_separated_by_blank_lines_and_trimmed()
    {
        using var folder = new TempDirectory();
        File.WriteAllText(folder.File("a.txt"), Text);
        Assert.Equal(["First paragraph,\nsecond line.", "Second paragraph.", "Third."], Read(folder.File("a.txt"), DocumentSplit.Paragraphs));
    }

    [Fact]
    public void Lines_are_documents_and_blank_ones_are_skipped()
    {
        using var folder = new TempDirectory();
        File.WriteAllText(folder.File("a.txt"), Text);
        Assert.Equal(["First paragraph,", "second line.", "Second paragraph.", "Third."], Read(folder.File("a.txt"), DocumentSplit.Lines));
    }

    [Fact]
    public void A_whole_file_can_be_one_document()
    {
        using var folder = new TempDirectory();
        File.WriteAllText(folder.File("a.txt"), Text);
        Assert.Equal([Text.Trim()], Read(folder.File("a.txt"), DocumentSplit.Files));
    }

    [Fact]
    public void Folders_are_read_recursively_in_ordinal_order_skipping_hidden_and_other_files()
    {
        using var folder = new TempDirectory();
        Directory.CreateDirectory(folder.File("b"));
        Directory.CreateDirectory(folder.File(".cache"));
        File.WriteAllText(folder.File("b/z.txt"), "b/z");
        File.WriteAllText(folder.File("b/a.md"), "b/a");
        File.WriteAllText(folder.File("B.txt"), "B");
        File.WriteAllText(folder.File("a.text"), "a");
        File.WriteAllText(folder.File(".hidden.txt"), "hidden");
        File.WriteAllText(folder.File(".cache/c.txt"), "cached");
        File.WriteAllText(folder.File("model.bin"), "binary");
        File.WriteAllText(folder.File("notes.csv"), "csv");

        var corpus = TextCorpus.Open([folder.Path]);
        Assert.Equal(["B", "a", "b/a", "b/z"], Read(corpus));
        Assert.Equal(4, corpus.Files.Count);
        // A file named directly is read whatever its extension, after the folder's files.
        Assert.Equal(["B", "a", "b/a", "b/z", "csv"], Read(TextCorpus.Open([folder.Path, folder.File("notes.csv")])));
    }

    [Fact]
    public void Jsonl_lines_give_their_text_or_story_field()
    {
        using var folder = new TempDirectory();
        File.WriteAllText(folder.File("d.jsonl"),
            "{\"text\": \" One.\\nTwo. \", \"id\": 1}\n\n{\"story\": \"Once upon a time 🦙\"}\n{\"text\": \"text wins\", \"story\": \"not this\"}\n");
        Assert.Equal(["One.\nTwo.", "Once upon a time 🦙", "text wins"], Read(folder.File("d.jsonl"), DocumentSplit.Lines));
    }

    [Fact]
    public void A_json_array_of_stories_is_read_as_tinystories_shards_are()
    {
        using var folder = new TempDirectory();
        File.WriteAllText(folder.File("data00.json"),
            "[{\"story\": \"Lily went out.\\n\\nShe was happy.\", \"instruction\": {\"words\": [\"go\"]}, \"source\": \"GPT-4\"},\n {\"story\": \"Tom ran.\"}]");
        Assert.Equal(["Lily went out.\n\nShe was happy.", "Tom ran."], Read(folder.File("data00.json"), DocumentSplit.Paragraphs));
    }

    [Theory]
    [InlineData("d.jsonl", "{\"text\": \"ok\"}\n{\"text\": \"broken\n", "d.jsonl:2")]
    [InlineData("d.jsonl", "{\"text\": \"ok\"}\n{\"title\": \"no text\"}\n", "d.jsonl:2")]
    [InlineData("d.jsonl", "{\"text\": 42}\n", "d.jsonl:1")]
    [InlineData("d.json", "{\"text\": \"an object, not an array\"}", "d.json")]
    [InlineData("d.json", "[{\"story\": \"ok\"}, {\"story\": null}]", "d.json: item 1")]
    public void Malformed_json_says_where(string name, string content, string where)
    {
        using var folder = new TempDirectory();
        File.WriteAllText(folder.File(name), content);
        var error = Assert.Throws<TrainingDataException>(() => Read(folder.File(name), DocumentSplit.Paragraphs));
        Assert.Contains(where, error.Message);
    }

    [Fact]
    public void A_byte_order_mark_is_skipped_and_invalid_utf8_reads_as_replacement_characters()
    {
        using var folder = new TempDirectory();
        File.WriteAllBytes(folder.File("a.txt"), [0xEF, 0xBB, 0xBF, (byte)'h', (byte)'i', 0xFF, (byte)'!', (byte)'\n', 0xC3, 0xA9]);
        Assert.Equal(["hi\uFFFD!", "é"], Read(folder.File("a.txt"), DocumentSplit.Lines));
    }

    [Fact]
    public void Positions_grow_to_the_total_size()
    {
        using var folder = new TempDirectory();
        var line = string.Concat(Enumerable.Repeat("word ", 40));
        File.WriteAllText(folder.File("a.txt"), string.Join('\n', Enumerable.Repeat(line, 5000)));
        File.WriteAllText(folder.File("b.txt"), string.Join('\n', Enumerable.Repeat(line, 5000)));
        var corpus = TextCorpus.Open([folder.Path], DocumentSplit.Lines);
        var positions = corpus.ReadDocuments(TestContext.Current.CancellationToken).Select(d => d.Position).ToList();
        Assert.Equal(10000, positions.Count);
        Assert.True(positions.Zip(positions.Skip(1)).All(p => p.First <= p.Second));
        Assert.True(positions[4999] <= new FileInfo(folder.File("a.txt")).Length);
        Assert.Equal(corpus.TotalBytes, positions[^1]);
        Assert.Equal(Encoding.UTF8.GetByteCount(line) * 10000L + 2 * 4999, corpus.TotalBytes);
    }

    [Fact]
    public void Missing_inputs_and_empty_folders_are_refused()
    {
        using var folder = new TempDirectory();
        var missing = Assert.Throws<TrainingDataException>(() => TextCorpus.Open([folder.File("nope.txt")]));
        Assert.Contains("nope.txt", missing.Message);
        Assert.Throws<TrainingDataException>(() => TextCorpus.Open([folder.Path]));
        Assert.Throws<TrainingDataException>(() => TextCorpus.Open([]));
    }
}

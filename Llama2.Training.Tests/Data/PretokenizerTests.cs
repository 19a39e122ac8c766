using System.Runtime.InteropServices;
using Llama2.Engine.Tokenization;

namespace Llama2.Training.Tests.Data;

public sealed class PretokenizerTests : IDisposable
{
    static readonly List<string> Corpus = SyntheticText.Documents(1000, seed: 13).Select(d => d.Trim()).ToList();
    static readonly Lazy<byte[]> Tokenizer1024 = new(() =>
    {
        var stream = new MemoryStream();
        TokenizerTrainer.Train(Corpus, new TokenizerTrainingOptions { VocabSize = 1024 }).WriteTo(stream);
        return stream.ToArray();
    });

    readonly TempDirectory _folder = new();
    readonly string _tokenizerPath;

    public PretokenizerTests()
    {
        _tokenizerPath = _folder.File("tokenizer.bin");
        File.WriteAllBytes(_tokenizerPath, Tokenizer1024.Value);
    }

    public void Dispose() => _folder.Dispose();

    /// <summary>The corpus as a .jsonl file, one document per line.</summary>
    TextCorpus WriteCorpus(IEnumerable<string> documents, string name = "corpus.jsonl")
    {
        File.WriteAllLines(_folder.File(name), documents.Select(d => System.Text.Json.JsonSerializer.Serialize(new { text = d })));
        return TextCorpus.Open([_folder.File(name)]);
    }

    TokenDataset Run(TextCorpus corpus, string output = "out", double validation = 0.1, int seed = 1,
        IProgress<PretokenizeProgress>? progress = null, string? tokenizer = null) =>
        Pretokenizer.Run(corpus, new PretokenizeOptions
        {
            TokenizerPath = tokenizer ?? _tokenizerPath,
            OutputDirectory = _folder.File(output),
            ValidationFraction = validation,
            Seed = seed,
        }, progress, TestContext.Current.CancellationToken);

    /// <summary>A token file's tokens: little-endian uint16 or int32, nothing else.</summary>
    static int[] Tokens(TokenDataset dataset, string directory, TokenSplit split)
    {
        var bytes = File.ReadAllBytes(TokenDataset.PathOf(directory, split));
        return dataset.DataType == TokenDataType.UInt16
            ? [.. MemoryMarshal.Cast<byte, ushort>(bytes).ToArray().Select(t => (int)t)]
            : MemoryMarshal.Cast<byte, int>(bytes).ToArray();
    }

    /// <summary>A token file cut into documents at each BOS (encoding never produces BOS).</summary>
    static List<int[]> Documents(TokenDataset dataset, string directory, TokenSplit split)
    {
        var tokens = Tokens(dataset, directory, split);
        var documents = new List<int[]>();
        for (int start = 0; start < tokens.Length;)
        {
            Assert.Equal(Tokenizer.Bos, tokens[start]);
            int end = Array.IndexOf(tokens, Tokenizer.Bos, start + 1);
            if (end < 0) end = tokens.Length;
            documents.Add(tokens[start..end]);
            start = end;
        }
        return documents;
    }

    [Fact]
    public void Each_document_is_bos_then_the_engines_encoding_split_between_train_and_validation_in_corpus_order()
    {
        var dataset = Run(WriteCorpus(Corpus));
        var output = _folder.File("out");
        var engine = Tokenizer.Load(_tokenizerPath);
        var expected = Corpus.Select(d => engine.Encode(d, bos: true, eos: false).ToArray()).ToList();

        var train = Documents(dataset, output, dataset.Train);
        var validation = Documents(dataset, output, dataset.Validation);
        Assert.Equal(Corpus.Count, train.Count + validation.Count);
        Assert.Equal((dataset.Train.Documents, dataset.Validation.Documents), (train.Count, validation.Count));
        Assert.Equal(dataset.Train.Tokens + dataset.Validation.Tokens, expected.Sum(e => (long)e.Length));
        // Both files keep corpus order: merging them back by which file each document went to gives the corpus.
        int t = 0, v = 0;
        foreach (var document in expected)
        {
            if (t < train.Count && train[t].AsSpan().SequenceEqual(document)) t++;
            else
            {
                Assert.True(v < validation.Count, "a document is in neither file");
                Assert.Equal(document, validation[v++]);
            }
        }
        // 10 % held out: 100 expected, binomial standard deviation 9.5.
        Assert.InRange(validation.Count, 60, 140);
    }

    [Fact]
    public void The_description_says_what_the_files_hold_and_loads_back()
    {
        var dataset = Run(WriteCorpus(Corpus));
        var output = _folder.File("out");
        Assert.Equal(dataset, TokenDataset.Load(output));
        Assert.Equal((1024, TokenDataType.UInt16, 1), (dataset.VocabSize, dataset.DataType, dataset.BosId));
        Assert.Equal(Path.GetFullPath(_tokenizerPath), dataset.Tokenizer);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Tokenizer1024.Value)), dataset.TokenizerSha256);
        Assert.Equal(2 * dataset.Train.Tokens, new FileInfo(Path.Combine(output, "train.bin")).Length);
        Assert.Equal(2 * dataset.Validation.Tokens, new FileInfo(Path.Combine(output, "val.bin")).Length);
        var json = File.ReadAllText(Path.Combine(output, "dataset.json"));
        Assert.Contains("\"data_type\": \"uint16\"", json);
        Assert.Contains("\"document_split\": \"paragraphs\"", json);
        Assert.Equal(["dataset.json", "train.bin", "val.bin"], Directory.GetFiles(output).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void The_split_is_deterministic_and_follows_the_seed()
    {
        var corpus = WriteCorpus(Corpus);
        Run(corpus, "a", seed: 1);
        Run(corpus, "b", seed: 1);
        Run(corpus, "c", seed: 2);
        byte[] Bytes(string output, string file) => File.ReadAllBytes(Path.Combine(_folder.File(output), file));
        Assert.Equal(Bytes("a", "train.bin"), Bytes("b", "train.bin"));
        Assert.Equal(Bytes("a", "val.bin"), Bytes("b", "val.bin"));
        Assert.NotEqual(Bytes("a", "val.bin"), Bytes("c", "val.bin"));
    }

    [Fact]
    public void With_fraction_zero_everything_is_training_data()
    {
        var dataset = Run(WriteCorpus(Corpus), validation: 0);
        Assert.Equal((Corpus.Count, 0L, 0L), (dataset.Train.Documents, dataset.Validation.Documents, dataset.Validation.Tokens));
        Assert.Equal(0, new FileInfo(Path.Combine(_folder.File("out"), "val.bin")).Length);
    }

    [Fact]
    public void Two_documents_give_one_to_each_file()
    {
        var dataset = Run(WriteCorpus(["The first one.", "The second one."]), validation: 0.01);
        Assert.Equal((1L, 1L), (dataset.Train.Documents, dataset.Validation.Documents));
    }

    [Fact]
    public void Plain_text_lines_are_documents_when_asked()
    {
        File.WriteAllText(_folder.File("verses.txt"), "In the beginning.\nAnd the rose.\n\nAmen.\n");
        var dataset = Run(TextCorpus.Open([_folder.File("verses.txt")], DocumentSplit.Lines), validation: 0);
        var engine = Tokenizer.Load(_tokenizerPath);
        Assert.Equal(
            new[] { "In the beginning.", "And the rose.", "Amen." }.Select(d => engine.Encode(d, true, false).ToArray()),
            Documents(dataset, _folder.File("out"), dataset.Train));
        Assert.Equal(DocumentSplit.Lines, dataset.DocumentSplit);
    }

    [Fact]
    public void Vocabularies_beyond_65536_tokens_are_written_as_int32()
    {
        // A hand-made vocabulary whose " the" sits at id 70002, beyond uint16.
        var pieces = " abcdefghijklmnopqrstuvwxyzT.".Select(c => c.ToString()).ToList();
        while (pieces.Count < 70000 - 259) pieces.Add($"filler{pieces.Count}");
        pieces.AddRange([" t", " th", " the"]);
        var path = _folder.File("big.bin");
        HandMadeTokenizer.Write(path, pieces, id => id >= 70000 ? -(id - 70000) : -100000);

        var dataset = Run(WriteCorpus(["the cat.", "The the the."]), tokenizer: path, validation: 0);
        Assert.Equal((70003, TokenDataType.Int32), (dataset.VocabSize, dataset.DataType));
        var engine = Tokenizer.Load(path);
        var expected = engine.Encode("the cat.", true, false).Concat(engine.Encode("The the the.", true, false)).ToArray();
        Assert.Contains(70002, expected);
        Assert.Equal(4 * expected.Length, new FileInfo(Path.Combine(_folder.File("out"), "train.bin")).Length);
        Assert.Equal(expected, Documents(dataset, _folder.File("out"), dataset.Train).SelectMany(d => d));
    }

    [Fact]
    public void Progress_ends_at_the_whole_corpus()
    {
        var reports = new List<PretokenizeProgress>();
        var dataset = Run(WriteCorpus(Corpus), progress: new SynchronousProgress<PretokenizeProgress>(reports.Add));
        var last = reports[^1];
        Assert.Equal(1.0, last.Fraction);
        Assert.Equal(Corpus.Count, last.Documents);
        Assert.Equal(dataset.Train.Tokens + dataset.Validation.Tokens, last.Tokens);
    }

    [Fact]
    public void A_failure_leaves_no_partial_files_and_earlier_output_untouched()
    {
        Run(WriteCorpus(Corpus));
        var output = _folder.File("out");
        var before = File.ReadAllBytes(Path.Combine(output, "train.bin"));
        File.WriteAllText(_folder.File("bad.jsonl"), "{\"text\": \"fine\"}\n{\"text\": \"fine too\"}\nnot json\n");
        Assert.Throws<TrainingDataException>(() => Run(TextCorpus.Open([_folder.File("bad.jsonl")])));
        Assert.Equal(before, File.ReadAllBytes(Path.Combine(output, "train.bin")));
        Assert.Equal(["dataset.json", "train.bin", "val.bin"], Directory.GetFiles(output).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void Cancelling_stops_and_leaves_no_files()
    {
        var corpus = WriteCorpus(Corpus);
        using var cancel = new CancellationTokenSource();
        var progress = new SynchronousProgress<PretokenizeProgress>(_ => cancel.Cancel());
        File.WriteAllText(_folder.File("big.txt"), string.Join("\n\n", Enumerable.Repeat(string.Join("\n\n", Corpus), 30)));
        Assert.ThrowsAny<OperationCanceledException>(() => Pretokenizer.Run(TextCorpus.Open([_folder.File("big.txt")]),
            new PretokenizeOptions { TokenizerPath = _tokenizerPath, OutputDirectory = _folder.File("cancelled") }, progress, cancel.Token));
        Assert.Empty(Directory.GetFiles(_folder.File("cancelled")));
    }

    [Fact]
    public void Bad_inputs_are_refused_with_clear_errors()
    {
        File.WriteAllText(_folder.File("blank.txt"), "\n   \n\t\n");
        Assert.Throws<TrainingDataException>(() => Run(TextCorpus.Open([_folder.File("blank.txt")])));
        Assert.Throws<CheckpointFormatException>(() => Run(WriteCorpus(Corpus), tokenizer: _folder.File("missing.bin")));
        Assert.Throws<ArgumentOutOfRangeException>(() => Run(WriteCorpus(Corpus), validation: 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => Run(WriteCorpus(Corpus), validation: -0.1));
    }
}

using Llama2.Engine.Tokenization;

namespace Llama2.Training.Tests.Tokenization;

public sealed class DocumentEncoderTests
{
    static readonly string[] Texts =
    [
        "", " ", "  ", "a", " a", "a ", "Hello world", "   runs   of    spaces   ", "tabs\tand\nnew\r\nlines",
        "naïve café 日本語 🦙 👩‍👧", "\u0000 NUL", "1234 5678.90", "trailing space ", "  two leading", "a  b   c    d",
    ];

    static void AssertSameAsEngine(Tokenizer engine, IEnumerable<string> documents)
    {
        var encoder = new DocumentEncoder(engine);
        foreach (var document in documents)
            for (int pass = 0; pass < 2; pass++) // the second pass takes the words from the cache
            {
                var tokens = new List<int>();
                encoder.Encode(document, tokens);
                Assert.Equal(engine.Encode(document, bos: false, eos: false), tokens);
            }
    }

    [Fact]
    public void Word_by_word_gives_the_engines_tokens_with_a_trained_vocabulary()
    {
        var corpus = SyntheticText.Documents(500, seed: 17);
        using var folder = new TempDirectory();
        TokenizerTrainer.Train(corpus, new TokenizerTrainingOptions { VocabSize = 1024 }, cancellationToken: TestContext.Current.CancellationToken)
            .Save(folder.File("tokenizer.bin"));
        AssertSameAsEngine(Tokenizer.Load(folder.File("tokenizer.bin")), corpus.Concat(Texts));
    }

    [Fact]
    public void Word_by_word_gives_the_engines_tokens_with_the_llama2_vocabulary()
    {
        var inputs = File.ReadAllText(SharedData.Require("golden/llama-spm.inp")).Split("\n__ggml_vocab_test__\n");
        AssertSameAsEngine(Tokenizer.Load(SharedData.Tokenizer32k, 32000), inputs.Concat(Texts));
    }

    [Fact]
    public void A_vocabulary_with_a_piece_spanning_a_space_is_encoded_whole()
    {
        // "a b" joins across the start of the word " b", so the words cannot be encoded apart.
        using var folder = new TempDirectory();
        var path = folder.File("tokenizer.bin");
        HandMadeTokenizer.Write(path, [" b", "a b", " ", "a", "b"], id => -(float)(id - 259));
        var engine = Tokenizer.Load(path);
        Assert.Equal([261, 260], engine.Encode("a b", false, false)); // " " then "a b"
        AssertSameAsEngine(engine, ["a b", "b a b", "a  b"]);
    }
}

using Llama2.Engine.Tokenization;

namespace Llama2.Training.Tests.Tokenization;

public sealed class TokenizerTrainerTests
{
    static readonly List<string> Corpus = SyntheticText.Documents(2000, seed: 7);
    static readonly Lazy<TrainedTokenizer> Trained512 = new(() => Train(Corpus, 512));

    static TrainedTokenizer Train(IEnumerable<string> documents, int vocabSize, double coverage = 1.0) =>
        TokenizerTrainer.Train(documents, new TokenizerTrainingOptions { VocabSize = vocabSize, CharacterCoverage = coverage },
            cancellationToken: TestContext.Current.CancellationToken);

    /// <summary>Writes the trained vocabulary as tokenizer.bin and loads it with the engine's tokenizer.</summary>
    static Tokenizer LoadInEngine(TrainedTokenizer trained)
    {
        using var folder = new TempDirectory();
        var path = folder.File("tokenizer.bin");
        trained.Save(path);
        return Tokenizer.Load(path);
    }

    /// <summary>The corpus has 91 distinct characters (the space included), so 350 is its smallest vocabulary.</summary>
    const int SmallestVocabulary = 259 + 91;

    [Theory]
    [InlineData(SmallestVocabulary + 10)]
    [InlineData(512)]
    [InlineData(2048)]
    public void The_engine_segments_the_training_text_exactly_as_the_trainer_did(int vocabSize)
    {
        var trained = vocabSize == 512 ? Trained512.Value : Train(Corpus, vocabSize);
        var engine = LoadInEngine(trained);
        Assert.Equal(vocabSize, engine.VocabSize);
        long tokens = 0;
        foreach (var document in Corpus)
        {
            var encoded = engine.Encode(document, bos: false, eos: false);
            Assert.Equal(trained.Segment(document), encoded);
            tokens += encoded.Count;
        }
        Assert.Equal(trained.Summary.Tokens, tokens);
    }

    [Fact]
    public void The_vocabulary_has_llama2c_layout_special_then_bytes_then_merges_then_characters()
    {
        var trained = Trained512.Value;
        Assert.Equal(512, trained.VocabSize);
        Assert.Equal(["<unk>", "\n<s>\n", "\n</s>\n"], trained.Pieces.Take(3));
        for (int b = 0; b < 256; b++) Assert.Equal($"<0x{b:X2}>", trained.Pieces[3 + b]);
        Assert.All(trained.Scores.Take(259), score => Assert.Equal(0f, score));

        var learned = trained.Pieces.Skip(259).Take(trained.MergeCount).ToList();
        var characters = trained.Pieces.Skip(259 + trained.MergeCount).ToList();
        Assert.All(learned, piece => Assert.True(piece.EnumerateRunes().Count() >= 2, piece));
        Assert.All(characters, piece => Assert.Single(piece.EnumerateRunes()));
        Assert.Equal(trained.AlphabetSize, characters.Count);
        // Every character of the text is a piece (coverage 1), and nothing else is.
        var seen = Corpus.SelectMany(d => d.EnumerateRunes()).Append(new Rune(' ')).Select(r => r.ToString()).ToHashSet();
        Assert.Equal(seen.Order(StringComparer.Ordinal), characters.Order(StringComparer.Ordinal));
        // Scores go down by one from the first learned piece to the last character, as SentencePiece numbers them.
        for (int id = 259; id < trained.VocabSize; id++) Assert.Equal(-(id - 259), trained.Scores[id]);
        Assert.Equal(trained.VocabSize, trained.Pieces.Distinct(StringComparer.Ordinal).Count());
    }

    [Fact]
    public void Learned_pieces_keep_to_sentencepiece_word_boundaries_digits_and_scripts()
    {
        var trained = Train(Corpus, 2048);
        var learned = trained.Pieces.Skip(259).Take(trained.MergeCount).ToList();
        Assert.All(learned, piece =>
        {
            // A space only starts a piece, unless the piece is all spaces.
            Assert.True(piece.All(c => c == ' ') || !piece[1..].Contains(' '), $"'{piece}' crosses a word boundary");
            Assert.False(piece.Any(char.IsAsciiDigit), $"'{piece}' joins a digit");
            var text = piece.TrimStart(' ');
            Assert.False(text.Any(char.IsLetter) && text.Any(c => char.IsPunctuation(c) || char.IsSymbol(c) || char.IsWhiteSpace(c)),
                $"'{piece}' mixes letters with other characters");
            Assert.False(text.Any(c => c is >= 'a' and <= 'z') && text.Any(c => c > 0x2E80), $"'{piece}' mixes Latin and CJK");
        });
        // The frequent words and the indentation became pieces.
        Assert.Contains(" the", learned);
        Assert.Contains("    ", learned);
    }

    public static TheoryData<string> RoundTripTexts => new()
    {
        "Hello world, the rose.",
        "",
        " a single leading space and a trailing one ",
        "   runs   of    spaces\t\ttabs\nnew lines\r\n\n",
        "naïve café Größe 日本語 — “quotes” … ½",
        "unseen: Ελληνικά עברית العربية हिन्दी 한국어 ñ",
        "emoji 🦙🦙 and 👩‍👩‍👧 families 🏳️‍🌈",
        "\u0000 NUL \u0001\u0007 controls \u007f\u0080\u009f",
        "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕄𝕒𝕥𝕙 \U0010FFFD private use \uE000",
        "digits 0123456789 and 3.14159 and ٣٤٥",
    };

    [Theory]
    [MemberData(nameof(RoundTripTexts))]
    public void Encoding_then_decoding_gives_back_any_text(string text)
    {
        var engine = LoadInEngine(Trained512.Value);
        var tokens = engine.Encode(text, bos: true, eos: false);
        Assert.Equal(text, engine.DecodeAll(tokens.Skip(1)));
    }

    [Fact]
    public void Random_unicode_strings_round_trip()
    {
        var engine = LoadInEngine(Trained512.Value);
        var random = new Random(11);
        for (int i = 0; i < 300; i++)
        {
            var text = new StringBuilder();
            for (int n = random.Next(0, 40); n > 0; n--)
            {
                int codePoint = random.Next(4) switch
                {
                    0 => random.Next(0x20, 0x7F),
                    1 => random.Next(0, 0x800),
                    2 => random.Next(0x800, 0x10000),
                    _ => random.Next(0x10000, 0x110000),
                };
                if (Rune.IsValid(codePoint)) text.Append(new Rune(codePoint).ToString());
            }
            var s = text.ToString();
            Assert.Equal(s, engine.DecodeAll(engine.Encode(s, bos: true, eos: false).Skip(1)));
        }
    }

    [Fact]
    public void Characters_outside_the_vocabulary_fall_back_to_their_utf8_bytes()
    {
        var engine = LoadInEngine(Trained512.Value);
        Assert.DoesNotContain("ж", Trained512.Value.Pieces);
        var tokens = engine.Encode("ж", bos: false, eos: false);
        Assert.Equal([SpaceId(Trained512.Value), 3 + 0xD0, 3 + 0xB6], tokens);
    }

    static int SpaceId(TrainedTokenizer trained) => trained.Pieces.ToList().IndexOf(" ");

    [Fact]
    public void With_the_largest_vocabulary_the_text_allows_every_word_is_one_token()
    {
        // Lower-case words separated by single spaces: once no pair is left to merge, each " word" is one piece.
        var words = SyntheticText.Vocabulary(60, seed: 3);
        var random = new Random(5);
        var documents = Enumerable.Range(0, 300)
            .Select(_ => string.Join(' ', Enumerable.Range(0, random.Next(1, 12)).Select(_ => words[random.Next(words.Length)])))
            .ToList();
        var error = Assert.Throws<TrainingDataException>(() => Train(documents, 4096));
        int largest = int.Parse(System.Text.RegularExpressions.Regex.Match(error.Message, @"largest vocabulary it can train is (\d+)").Groups[1].Value);

        var trained = Train(documents, largest);
        long wordCount = documents.Sum(d => d.Split(' ').Length);
        Assert.Equal(wordCount, trained.Summary.Tokens);
        Assert.Equal(wordCount, trained.Summary.Words);
        Assert.Equal((double)documents.Sum(d => d.Length) / wordCount, trained.Summary.BytesPerToken, 9);
        Assert.Throws<TrainingDataException>(() => Train(documents, largest + 1));
    }

    [Fact]
    public void A_larger_vocabulary_compresses_more()
    {
        // With no merges every character is a token, and each document has its dummy-prefix space.
        var smallest = Train(Corpus, SmallestVocabulary);
        Assert.Equal(0, smallest.MergeCount);
        Assert.Equal(Corpus.Sum(d => d.EnumerateRunes().Count() + 1), smallest.Summary.Tokens);

        double previous = smallest.Summary.BytesPerToken;
        foreach (int size in new[] { 400, 512, 1024, 2048 })
        {
            var summary = (size == 512 ? Trained512.Value : Train(Corpus, size)).Summary;
            Assert.True(summary.BytesPerToken > previous, $"{size}: {summary.BytesPerToken:F3} bytes/token, not above {previous:F3}");
            previous = summary.BytesPerToken;

        }
        // 2048 tokens hold all 400 words of the text as pieces with their leading space, so a word costs one token,
        // plus its share of the rest: a sentence end every 8 words, a comma every 10, a capitalised first word and,
        // one word in 40 each, a number, a quoted word, a "'s" and foreign text of a few tokens. That is at most
        // 1.6 tokens per word (1.44 measured).
        double bytesPerWord = (double)smallest.Summary.TextBytes / smallest.Summary.Words;
        Assert.True(previous > bytesPerWord / 1.6, $"{previous:F3} bytes/token at 2048, {bytesPerWord:F3} bytes/word");
    }

    [Fact]
    public void Training_is_deterministic_to_the_byte()
    {
        var first = new MemoryStream();
        var second = new MemoryStream();
        Train(Corpus, 1024).WriteTo(first);
        Train(Corpus.ToList(), 1024).WriteTo(second);
        Assert.Equal(first.ToArray(), second.ToArray());
    }

    [Fact]
    public void Vocabularies_up_to_8192_train_and_agree_with_the_engine()
    {
        var documents = SyntheticText.Documents(3000, seed: 21, distinctWords: 4000);
        var trained = Train(documents, 8192);
        Assert.Equal(8192, trained.VocabSize);
        var engine = LoadInEngine(trained);
        foreach (var document in documents.Take(500)) Assert.Equal(trained.Segment(document), engine.Encode(document, false, false));
    }

    [Fact]
    public void Digits_stay_single_even_when_a_number_is_frequent()
    {
        var trained = Train(Enumerable.Repeat("In 1611 the year 1611 came.", 50), 280);
        Assert.DoesNotContain(trained.Pieces.Skip(259).Take(trained.MergeCount), p => p.Any(char.IsAsciiDigit));
    }

    [Fact]
    public void A_lower_character_coverage_leaves_rare_characters_to_bytes()
    {
        var documents = Corpus.Append("A rare ж appears once.").ToList();
        var full = Train(documents, 512);
        var covered = Train(documents, 512, coverage: 0.9995);
        Assert.Contains("ж", full.Pieces);
        Assert.DoesNotContain("ж", covered.Pieces);
        Assert.True(covered.AlphabetSize < full.AlphabetSize);
        Assert.Equal(covered.Segment("ж"), LoadInEngine(covered).Encode("ж", false, false));
    }

    [Fact]
    public void Very_long_stretches_only_add_their_characters()
    {
        // A 2000-letter run without spaces (as a DNA string would be) is left out of learning merges.
        var random = new Random(9);
        var dna = string.Concat(Enumerable.Range(0, 2000).Select(_ => "ACGU"[random.Next(4)]));
        var trained = Train(Corpus.Append("A sequence: " + dna), 512);
        Assert.Equal((1L, 2001L), (trained.Summary.SkippedStretches, trained.Summary.SkippedBytes)); // " ACGU…"
        Assert.Contains("U", trained.Pieces); // only in the skipped run
        var engine = LoadInEngine(trained);
        Assert.Equal(Corpus.Sum(d => engine.Encode(d, false, false).Count) + engine.Encode("A sequence:", false, false).Count,
            trained.Summary.Tokens);
        Assert.Equal("A sequence: " + dna, engine.DecodeAll(engine.Encode("A sequence: " + dna, true, false).Skip(1)));
    }

    [Fact]
    public void A_vocabulary_too_small_for_the_alphabet_says_how_large_it_must_be()
    {
        int alphabet = Trained512.Value.AlphabetSize;
        var error = Assert.Throws<TrainingDataException>(() => Train(Corpus, 259 + alphabet - 1));
        Assert.Contains($"at least {259 + alphabet}", error.Message);
        Assert.Equal(259 + alphabet, Train(Corpus, 259 + alphabet).VocabSize);
    }

    [Fact]
    public void Empty_input_is_refused()
    {
        Assert.Throws<TrainingDataException>(() => Train([], 512));
        Assert.Throws<TrainingDataException>(() => Train(["", ""], 512));
    }

    [Theory]
    [InlineData(259, 1.0, 16)]
    [InlineData(512, 0.0, 16)]
    [InlineData(512, 1.5, 16)]
    [InlineData(512, 1.0, 0)]
    public void Invalid_options_are_refused(int vocabSize, double coverage, int maxPieceLength) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => TokenizerTrainer.Train(Corpus,
            new TokenizerTrainingOptions { VocabSize = vocabSize, CharacterCoverage = coverage, MaxPieceLength = maxPieceLength },
            cancellationToken: TestContext.Current.CancellationToken));

    [Fact]
    public void Cancelling_stops_training()
    {
        using var cancel = new CancellationTokenSource();
        var progress = new SynchronousProgress<TokenizerTrainingProgress>(p =>
        {
            if (p.Stage == TokenizerTrainingStage.Merging) cancel.Cancel();
        });
        Assert.ThrowsAny<OperationCanceledException>(() =>
            TokenizerTrainer.Train(Corpus, new TokenizerTrainingOptions { VocabSize = 2048 }, progress, cancel.Token));
    }

    [Fact]
    public void Training_from_files_reports_progress_and_matches_training_from_strings()
    {
        using var folder = new TempDirectory();
        File.WriteAllText(folder.File("a.txt"), string.Join("\n\n", Corpus.Take(1000)));
        File.WriteAllText(folder.File("b.txt"), string.Join("\n\n", Corpus.Skip(1000)));
        var reports = new List<TokenizerTrainingProgress>();
        var fromFiles = TokenizerTrainer.Train(TextCorpus.Open([folder.Path]), new TokenizerTrainingOptions { VocabSize = 512 },
            new SynchronousProgress<TokenizerTrainingProgress>(reports.Add), TestContext.Current.CancellationToken);

        Assert.Equal(Train(Corpus.Select(d => d.Trim()), 512).Pieces, fromFiles.Pieces);
        Assert.Contains(reports, r => r is { Stage: TokenizerTrainingStage.Reading, Fraction: 1.0 });
        var merging = reports.Where(r => r.Stage == TokenizerTrainingStage.Merging).ToList();
        Assert.Equal(fromFiles.MergeCount, merging[^1].Done);
        Assert.Equal(1.0, merging[^1].Fraction);
        Assert.True(merging.Zip(merging.Skip(1)).All(p => p.First.Done < p.Second.Done));
    }
}

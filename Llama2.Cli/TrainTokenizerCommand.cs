using System.CommandLine;
using Llama2.Engine.Progress;
using Llama2.Training.Data;
using Llama2.Training.Tokenization;

namespace Llama2.Cli;

/// <summary>
/// <c>Llama2.Cli train-tokenizer &lt;inputs…&gt; --vocab-size N -o tokenizer.bin [--split paragraphs|lines|files]
/// [--character-coverage 1.0] [--max-piece-length 16]</c>: a BPE vocabulary in llama2.c's tokenizer.bin format.
/// </summary>
public static class TrainTokenizerCommand
{
    public static Command Create()
    {
        var inputs = TrainingArguments.Inputs();
        var vocabSize = new Option<int>("--vocab-size")
        {
            Description = "tokens in the vocabulary: 3 special, 256 bytes, one per character of the text, the rest learned merges",
            HelpName = "int",
            Required = true,
        }.AcceptNumbers(TrainedTokenizer.FirstLearnedId + 1, TrainedTokenizer.MaxVocabSize);
        var output = new Option<string>("--output", "-o") { Description = "the tokenizer.bin to write", HelpName = "file", Required = true };
        var split = TrainingArguments.Split();
        var coverage = new Option<double>("--character-coverage")
        {
            Description = "share of the text's characters whose characters become tokens; rarer ones are encoded as bytes",
            HelpName = "fraction",
            DefaultValueFactory = _ => 1.0,
        }.AcceptNumbers(1e-6, 1.0);
        var maxPiece = new Option<int>("--max-piece-length")
        {
            Description = "longest token, in characters",
            HelpName = "int",
            DefaultValueFactory = _ => TokenizerTrainingOptions.DefaultMaxPieceLength,
        }.AcceptNumbers(1, 256);

        var command = new Command("train-tokenizer", """
            Trains a byte-pair-encoding vocabulary on text files and writes it as a llama2.c tokenizer.bin (SentencePiece
            BPE's layout, with byte fallback), which run.c, this engine and pretokenize encode with exactly as it was trained.
            Example: Llama2.Cli train-tokenizer kjv.txt --split lines --vocab-size 4096 -o tok4096.bin
            """)
        {
            inputs, vocabSize, output, split, coverage, maxPiece,
        };
        command.SetCorpusAction(inputs, split, (parsed, corpus, cancellationToken) =>
        {
            var options = new TokenizerTrainingOptions
            {
                VocabSize = parsed.GetValue(vocabSize),
                CharacterCoverage = parsed.GetValue(coverage),
                MaxPieceLength = parsed.GetValue(maxPiece),
            };
            var stage = TokenizerTrainingStage.Reading;
            var trained = ProgressBar.OnStandardError(bar => TokenizerTrainer.Train(corpus, options, bar.For<TokenizerTrainingProgress>(p =>
            {
                if (p.Stage != stage) bar.Complete(); // each stage a bar of its own
                stage = p.Stage;
                return (p.Fraction, p.ToString());
            }), cancellationToken));
            var path = parsed.GetRequiredValue(output);
            trained.Save(path);
            var s = trained.Summary;
            Console.WriteLine($"saved {path}: {trained.VocabSize} tokens (3 special, 256 bytes, {trained.MergeCount} learned, " +
                $"{trained.AlphabetSize} characters of the {s.DistinctCharacters} in the text)");
            Console.WriteLine($"the text: {corpus.Files.Count} {(corpus.Files.Count == 1 ? "file" : "files")}, {s.Documents:N0} documents, {s.TextBytes:N0} bytes; " +
                $"encoded in {s.Tokens:N0} tokens, {s.BytesPerToken:F2} bytes/token");
            if (s.SkippedStretches > 0)
                Console.WriteLine($"{s.SkippedStretches:N0} stretches over {TokenizerTrainer.MaxStretchLength} characters without spaces " +
                    $"({s.SkippedBytes:N0} bytes) took no part in learning merges");
            return 0;
        });
        return command;
    }
}

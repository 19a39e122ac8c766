using System.CommandLine;
using Llama2.Engine.Progress;
using Llama2.Training.Data;

namespace Llama2.Cli;

/// <summary>
/// <c>Llama2.Cli pretokenize &lt;inputs…&gt; -z tokenizer.bin -o DIR [--split paragraphs|lines|files]
/// [--val-fraction 0.1] [--seed 1]</c>: the text encoded into DIR/train.bin, DIR/val.bin and DIR/dataset.json.
/// </summary>
public static class PretokenizeCommand
{
    public static Command Create()
    {
        var defaults = new PretokenizeOptions { TokenizerPath = "", OutputDirectory = "" };
        var inputs = TrainingArguments.Inputs();
        var tokenizer = new Option<string>("--tokenizer", "-z") { Description = "the tokenizer.bin to encode with", HelpName = "file", Required = true };
        var output = new Option<string>("--output", "-o")
        {
            Description = "folder for train.bin, val.bin and dataset.json (created if missing; files replaced)",
            HelpName = "folder",
            Required = true,
        };
        var split = TrainingArguments.Split();
        var validation = new Option<double>("--val-fraction")
        {
            Description = "share of the documents held out for the validation loss",
            HelpName = "fraction",
            DefaultValueFactory = _ => defaults.ValidationFraction,
        }.AcceptNumbers(0, 0.99);
        var seed = new Option<int>("--seed")
        {
            Description = "chooses which documents are held out (the same seed and text, the same split)",
            HelpName = "int",
            DefaultValueFactory = _ => defaults.Seed,
        }.AcceptNumbers();

        var command = new Command("pretokenize", """
            Encodes text into token files for train: each document is BOS and its tokens as run.c encodes it (uint16 when
            the vocabulary fits, else int32), a share of the documents held out in val.bin, described by dataset.json.
            Example: Llama2.Cli pretokenize kjv.txt --split lines -z tok4096.bin -o data/kjv
            """)
        {
            inputs, tokenizer, output, split, validation, seed,
        };
        command.SetCorpusAction(inputs, split, (parsed, corpus, cancellationToken) =>
        {
            var options = new PretokenizeOptions
            {
                TokenizerPath = parsed.GetRequiredValue(tokenizer),
                OutputDirectory = parsed.GetRequiredValue(output),
                ValidationFraction = parsed.GetValue(validation),
                Seed = parsed.GetValue(seed),
            };
            var dataset = ProgressBar.OnStandardError(bar =>
                Pretokenizer.Run(corpus, options, bar.For<PretokenizeProgress>(p => (p.Fraction, p.ToString())), cancellationToken));
            string folder = options.OutputDirectory;
            Console.WriteLine($"wrote {Path.Combine(folder, dataset.Train.File)} ({dataset.Train.Documents:N0} documents, " +
                $"{dataset.Train.Tokens:N0} tokens) and {Path.Combine(folder, dataset.Validation.File)} ({dataset.Validation.Documents:N0} " +
                $"documents, {dataset.Validation.Tokens:N0} tokens): {dataset.DataType.ToString().ToLowerInvariant()}, vocabulary {dataset.VocabSize}");
            Console.WriteLine($"train with: Llama2.Cli train --data {folder}");
            return 0;
        });
        return command;
    }
}

using System.CommandLine;
using Llama2.Training.Data;

namespace Llama2.Cli;

/// <summary>The arguments train-tokenizer and pretokenize share: the text to read and how to cut it into documents.</summary>
static class TrainingArguments
{
    public static Argument<string[]> Inputs() => new("inputs")
    {
        Description = "text files, .jsonl or .json files ({\"text\": …} records), or folders holding them",
        Arity = ArgumentArity.OneOrMore,
    };

    public static Option<string> Split() => new Option<string>("--split")
    {
        Description = "how plain text is cut into documents (each starts with BOS): paragraphs (blank-line separated), lines, or files",
        DefaultValueFactory = _ => "paragraphs",
    }.AcceptOnlyFromAmong("paragraphs", "lines", "files");

    /// <summary>
    /// Sets the action of a verb that reads the corpus: <paramref name="run"/> gets the corpus the inputs and --split
    /// name, off the invoking thread, so that Ctrl+C is handled (System.CommandLine watches for it once the action has
    /// started), and ends as <see cref="VerbErrors"/> says (a cancelled run has written nothing).
    /// </summary>
    public static void SetCorpusAction(this Command command, Argument<string[]> inputs, Option<string> split,
        Func<ParseResult, TextCorpus, CancellationToken, int> run) =>
        command.SetAction((parsed, cancellationToken) => Task.Run(() => VerbErrors.Run(
            () => run(parsed, Corpus(parsed, inputs, split), cancellationToken), "cancelled; nothing written"), CancellationToken.None));

    /// <summary>The text corpus the inputs and --split name.</summary>
    public static TextCorpus Corpus(ParseResult parsed, Argument<string[]> inputs, Option<string> split) =>
        TextCorpus.Open(parsed.GetRequiredValue(inputs), Enum.Parse<DocumentSplit>(parsed.GetRequiredValue(split), ignoreCase: true));
}

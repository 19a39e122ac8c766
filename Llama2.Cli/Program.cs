using System.CommandLine;
using System.CommandLine.Invocation;
using Llama2.Cli;

// Without a verb it is llama2.c's ./run; each verb is a subcommand in a file of its own.
RootCommand cli = RunCommand.Create();
cli.Add(DownloadCommand.Create());
cli.Add(ConvertCommand.Create());
cli.Add(QuantizeCommand.Create());
cli.Add(TrainTokenizerCommand.Create());
cli.Add(PretokenizeCommand.Create());
cli.Add(TrainCommand.Create());
cli.Add(ExportCommand.Create());
VerbHelpAction.Install(cli);

// Arguments are taken as they are, as run.c takes them: a prompt starting with '@' is text, not a response file.
var parsed = cli.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
// Typo suggestions for run.c's one-letter flags would list every flag; the usage that follows lists them once.
if (parsed.Action is ParseErrorAction parseErrors) parseErrors.ShowTypoCorrections = false;

// --help prints to stdout with exit code 0. A command line in error gets its messages and the usage on stderr, with
// exit code 1 (run.c's). Ctrl+C cancels the verb's token: it stops cleanly, with exit code 130.
return await parsed.InvokeAsync(new InvocationConfiguration { Output = parsed.Errors.Count > 0 ? Console.Error : Console.Out });

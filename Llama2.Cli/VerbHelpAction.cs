using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;

namespace Llama2.Cli;

/// <summary>
/// The help of a verb without the root command's arguments. Without a verb, Llama2.Cli takes run.c's
/// <c>&lt;checkpoint&gt;</c>; System.CommandLine would show it in every verb's usage too
/// (<c>Llama2.Cli &lt;checkpoint&gt; download &lt;model&gt;</c>), so it is hidden while a verb's help is written.
/// </summary>
sealed class VerbHelpAction(RootCommand root, SynchronousCommandLineAction help) : SynchronousCommandLineAction
{
    /// <summary>Wraps the help option's action; call it once the verbs are added.</summary>
    public static void Install(RootCommand root)
    {
        var option = root.Options.OfType<HelpOption>().Single();
        option.Action = new VerbHelpAction(root, (SynchronousCommandLineAction)option.Action!);
    }

    public override bool ClearsParseErrors => help.ClearsParseErrors;

    public override int Invoke(ParseResult parseResult)
    {
        bool verb = parseResult.CommandResult.Command != root;
        foreach (var argument in root.Arguments) argument.Hidden = verb;
        try
        {
            return help.Invoke(parseResult);
        }
        finally
        {
            foreach (var argument in root.Arguments) argument.Hidden = false;
        }
    }
}

using System.CommandLine;
using Llama2.Engine.Model;

namespace Llama2.Cli;

/// <summary>
/// <c>--group-size</c> of the verbs that write int8 (version 2) checkpoints — quantize, and export and convert with
/// <c>--version 2</c> — and the line each says when the model's shape makes it back off (<see cref="CheckpointQuantizer.FitGroupSize"/>).
/// </summary>
static class GroupSizeOption
{
    public static Option<int> Create() => new Option<int>("--group-size")
    {
        Description = "int8 weights per scale; halved until it divides dim and hidden_dim, as export.py does for dim",
        HelpName = "int",
        DefaultValueFactory = _ => CheckpointQuantizer.DefaultGroupSize,
    }.AcceptNumbers(1, 1 << 16);

    /// <summary>Refuses <c>--group-size</c> given with a <c>--version</c> other than 2.</summary>
    public static void OnlyWithVersion2(Command command, Option<int> groupSize, Option<int> version) =>
        command.Validators.Add(result =>
        {
            if (result.GetResult(groupSize) is { Implicit: false } && result.GetValue(version) != 2)
                result.AddError("--group-size goes with --version 2 (int8)");
        });

    /// <summary>
    /// The group size a model of <paramref name="config"/> is quantized with, saying so on stderr when it is not
    /// <paramref name="requested"/>.
    /// </summary>
    public static int Fit(ModelConfig config, int requested)
    {
        int fitted = CheckpointQuantizer.FitGroupSize(config, requested);
        if (fitted != requested)
            Console.Error.WriteLine($"{CheckpointLayout.GroupSizeProblem(config, requested)}; using {fitted}");
        return fitted;
    }
}

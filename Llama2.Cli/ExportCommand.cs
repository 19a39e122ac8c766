using System.CommandLine;
using Llama2.Engine.Model;
using Llama2.Training;
using Llama2.Training.Checkpoints;
using Llama2.Training.Export;

namespace Llama2.Cli;

/// <summary>
/// <c>Llama2.Cli export [--checkpoint out/checkpoint.bin] [--version 0|1|2] [--group-size 64] -o model.bin</c>: a training
/// checkpoint as a llama2.c checkpoint.
/// </summary>
public static class ExportCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint")
        {
            Description = "the training checkpoint (train's --out/checkpoint.bin)",
            HelpName = "file",
            DefaultValueFactory = _ => Path.Combine("out", TrainingRunner.CheckpointFile),
        };
        var version = new Option<int>("--version")
        {
            Description = "llama2.c checkpoint version: 0 (legacy fp32, what run.c reads), 1 (fp32, 256-byte header) or 2 (int8 Q8_0, what runq.c reads)",
            HelpName = "0|1|2",
            DefaultValueFactory = _ => 0,
        }.AcceptNumbers(0, 2);
        var groupSize = GroupSizeOption.Create();
        var output = new Option<string>("--output", "-o") { Description = "the llama2.c checkpoint to write", HelpName = "file", Required = true };

        var command = new Command("export", """
            Exports the model of a training checkpoint as a llama2.c checkpoint, for run.c (or runq.c for version 2), this
            CLI and the server. Version 2 is int8, quantized exactly as the quantize verb (and export.py --version 2) does.
            Example: Llama2.Cli export --checkpoint out/kjv/checkpoint.bin --version 0 -o kjv.bin
            """)
        {
            checkpoint, version, groupSize, output,
        };
        GroupSizeOption.OnlyWithVersion2(command, groupSize, version);
        command.SetAction(parsed => VerbErrors.Run(() =>
        {
            string path = parsed.GetRequiredValue(output), trainingCheckpoint = parsed.GetRequiredValue(checkpoint);
            int v = parsed.GetValue(version), group = parsed.GetValue(groupSize);
            if (v == 2) group = GroupSizeOption.Fit(TrainingCheckpoint.ReadHeader(trainingCheckpoint).Config, group);
            CheckpointExport.FromTrainingCheckpoint(trainingCheckpoint, path, v, group);
            using var written = Checkpoint.Open(path);
            Console.WriteLine($"wrote {path}: version {written.Layout.Version}" +
                (v == 2 ? $" (Q8_0, group size {written.Layout.GroupSize})" : "") +
                $", {written.Config} ({written.Config.ParameterCount:N0} parameters, {written.FileBytes:N0} bytes)");
            return 0;
        }));
        return command;
    }
}

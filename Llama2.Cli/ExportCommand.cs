using System.CommandLine;
using Llama2.Engine.Model;
using Llama2.Training;
using Llama2.Training.Export;

namespace Llama2.Cli;

/// <summary><c>Llama2.Cli export [--checkpoint out/checkpoint.bin] [--version 0|1] -o model.bin</c>: a training checkpoint as a llama2.c checkpoint.</summary>
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
            Description = "llama2.c checkpoint version: 0 (legacy, what run.c reads) or 1 (256-byte header); both fp32",
            HelpName = "0|1",
            DefaultValueFactory = _ => 0,
        }.AcceptNumbers(0, 2);
        version.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() == 2)
                result.AddError("--version 2 (int8) comes with the int8 quantizer, which is not in this build yet; export version 0 or 1");
        });
        var output = new Option<string>("--output", "-o") { Description = "the llama2.c checkpoint to write", HelpName = "file", Required = true };

        var command = new Command("export", """
            Exports the model of a training checkpoint as a llama2.c checkpoint (fp32), for run.c, this CLI and the server.
            Example: Llama2.Cli export --checkpoint out/kjv/checkpoint.bin --version 0 -o kjv.bin
            """)
        {
            checkpoint, version, output,
        };
        command.SetAction(parsed => VerbErrors.Run(() =>
        {
            string path = parsed.GetRequiredValue(output);
            CheckpointExport.FromTrainingCheckpoint(parsed.GetRequiredValue(checkpoint), path, parsed.GetValue(version));
            using var written = Checkpoint.Open(path);
            Console.WriteLine($"wrote {path}: version {written.Layout.Version}, {written.Config} " +
                $"({written.Config.ParameterCount:N0} parameters, {written.FileBytes:N0} bytes)");
            return 0;
        }));
        return command;
    }
}

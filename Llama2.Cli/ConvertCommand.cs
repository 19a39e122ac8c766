using System.CommandLine;
using Llama2.Engine.Formats;
using Llama2.Engine.Model;
using Llama2.Engine.Progress;

namespace Llama2.Cli;

/// <summary>
/// <c>Llama2.Cli convert SRC OUT.bin [--version 0|1|2] [--group-size 64] [--tokenizer PATH]</c>: a Hugging Face folder or a GGUF file to a
/// llama2.c checkpoint, and its vocabulary to tokenizer.bin.
/// </summary>
public static class ConvertCommand
{
    public static Command Create()
    {
        var source = new Argument<string>("source") { Description = "a Hugging Face model folder (config.json, *.safetensors) or a .gguf file" };
        var output = new Argument<string>("output") { Description = "the checkpoint to write (.bin)" };
        var version = new Option<int>("--version")
        {
            Description = "0: llama2.c's legacy fp32 format (what its run.c reads); 1: fp32 with a 256-byte header; " +
                          "2: int8 (Q8_0, what its runq.c reads), quantized as the quantize verb does",
            HelpName = "0|1|2",
            DefaultValueFactory = _ => 0,
        }.AcceptNumbers(0, 2);
        var groupSize = GroupSizeOption.Create();
        var tokenizer = new Option<string?>("--tokenizer")
        {
            Description = "where to write the vocabulary as tokenizer.bin (default: tokenizer.bin beside the output)",
            HelpName = "path",
        };

        var command = new Command("convert", """
            Converts a Hugging Face Llama folder (fp32, fp16 or bf16 safetensors, sharded or not, with tokenizer.model) or
            a GGUF file (F32, F16, BF16 or Q8_0) to a llama2.c checkpoint, and the model's vocabulary to tokenizer.bin.
            Weights are widened to fp32 exactly (and for --version 2 quantized to int8); nothing is left under the output's
            name unless it is complete.
            Example: Llama2.Cli convert models/Llama-2-7b-chat-hf llama2-7b-chat.bin
            """)
        {
            source, output, version, groupSize, tokenizer,
        };
        GroupSizeOption.OnlyWithVersion2(command, groupSize, version);
        command.SetAction((parsed, cancellationToken) => Task.FromResult(Run(
            parsed.GetRequiredValue(source), parsed.GetRequiredValue(output), parsed.GetValue(version), parsed.GetValue(groupSize),
            parsed.GetValue(tokenizer), cancellationToken)));
        return command;
    }

    static int Run(string sourcePath, string outputPath, int version, int groupSize, string? tokenizerPath, CancellationToken cancellationToken)
    {
        outputPath = Path.GetFullPath(outputPath);
        tokenizerPath = Path.GetFullPath(tokenizerPath ?? Path.Combine(Path.GetDirectoryName(outputPath)!, "tokenizer.bin"));
        try
        {
            using var model = ExternalModel.Open(sourcePath);
            Console.Error.WriteLine($"{sourcePath}: {model.FormatName}, {model.StoredTypes()}; {model.Config}");
            if (CheckpointConverter.Unrepresentable(model) is { } problem) return Fail($"{sourcePath}: {problem}");
            foreach (var warning in CheckpointConverter.Warnings(model)) Console.Error.WriteLine($"warning: {warning}");
            if (File.Exists(outputPath)) return Fail($"{outputPath} exists; remove it or give another name");

            byte[]? tokenizerBin = TokenizerBytes(model, tokenizerPath, out string? tokenizerNote);
            if (tokenizerNote is not null) Console.Error.WriteLine(tokenizerNote);
            if (tokenizerBin is not null && File.Exists(tokenizerPath) && !File.ReadAllBytes(tokenizerPath).AsSpan().SequenceEqual(tokenizerBin))
                return Fail($"{tokenizerPath} exists with another vocabulary; give --tokenizer PATH for this model's");

            if (version == 2) groupSize = GroupSizeOption.Fit(model.Config, groupSize);
            var layout = CheckpointConverter.LayoutFor(model, version, groupSize);
            Directory.CreateDirectory(Path.GetDirectoryName(outputPath)!);
            long free = new DriveInfo(Path.GetDirectoryName(outputPath)!).AvailableFreeSpace;
            if (free < layout.FileBytes)
                return Fail($"{outputPath} needs {Size(layout.FileBytes)} and its disk has {Size(free)} free");

            var bar = ProgressBar.OnStandardError();
            try
            {
                CheckpointConverter.Convert(model, outputPath, version, bar.ForFraction($"writing {Path.GetFileName(outputPath)}"),
                    cancellationToken, groupSize);
            }
            finally
            {
                bar.Complete();
            }
            string format = version == 2 ? $", Q8_0, group size {layout.GroupSize}" : "";
            Console.Error.WriteLine($"wrote {outputPath} (version {version}{format}, {Size(layout.FileBytes)})");

            if (tokenizerBin is not null && !File.Exists(tokenizerPath))
            {
                Directory.CreateDirectory(Path.GetDirectoryName(tokenizerPath)!);
                File.WriteAllBytes(tokenizerPath + ".partial", tokenizerBin);
                File.Move(tokenizerPath + ".partial", tokenizerPath);
                Console.Error.WriteLine($"wrote {tokenizerPath} ({model.Vocabulary!.Count} tokens)");
            }
            if (tokenizerBin is not null)
                Console.Error.WriteLine($"run it: Llama2.Cli {outputPath} -z {tokenizerPath}");
            return 0;
        }
        catch (CheckpointFormatException e)
        {
            return Fail(e.Message);
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("cancelled; nothing was written");
            return RunCommand.Cancelled;
        }
        catch (IOException e)
        {
            return Fail($"writing {outputPath} failed: {e.Message}");
        }
    }

    /// <summary>The vocabulary as tokenizer.bin, or null with a note saying why there is none.</summary>
    static byte[]? TokenizerBytes(ExternalModel model, string tokenizerPath, out string? note)
    {
        note = null;
        if (model.Vocabulary is not { } vocabulary)
        {
            note = $"warning: no tokenizer written ({model.VocabularyNote}); a model with Llama 2's vocabulary can use llama2.c's tokenizer.bin";
            return null;
        }
        if (vocabulary.Llama2cProblem(model.Config.VocabSize) is { } problem)
        {
            note = $"warning: no tokenizer written: the engine's tokenizer cannot encode {vocabulary.Source}'s vocabulary: {problem}";
            return null;
        }
        var bytes = vocabulary.ToTokenizerBin();
        if (File.Exists(tokenizerPath) && File.ReadAllBytes(tokenizerPath).AsSpan().SequenceEqual(bytes))
            note = $"{tokenizerPath} is already there, with this vocabulary";
        return bytes;
    }

    static string Size(long bytes) => bytes >= 1e9 ? $"{bytes / 1e9:F1} GB" : $"{bytes / 1e6:F1} MB";

    static int Fail(string message)
    {
        Console.Error.WriteLine($"error: {message}");
        return 1;
    }
}

using System.CommandLine;
using System.Globalization;
using Llama2.Engine.Model;
using Llama2.Engine.Progress;

namespace Llama2.Cli;

/// <summary>
/// <c>Llama2.Cli quantize IN.bin OUT.bin [--group-size 64]</c>: an fp32 checkpoint (version 0 or 1) to llama2.c's
/// int8 version 2, as <c>export.py --version 2</c> writes it (<see cref="CheckpointQuantizer"/>).
/// </summary>
public static class QuantizeCommand
{
    public static Command Create()
    {
        var input = new Argument<string>("input")
        {
            Description = "an fp32 llama2.c checkpoint (version 0 or 1); for a Hugging Face folder or GGUF file, use convert --version 2",
        };
        var output = new Argument<string>("output") { Description = "the int8 (version 2) checkpoint to write" };
        var groupSize = GroupSizeOption.Create();

        var command = new Command("quantize", """
            Quantizes an fp32 checkpoint to int8 (llama2.c's version 2, Q8_0: one scale per group of weights), byte for
            byte what llama2.c's export.py --version 2 writes, for runq.c and for this engine: about 4 times smaller and
            faster to decode. The file is written under a temporary name and renamed when complete.
            """)
        {
            input, output, groupSize,
        };
        command.SetAction((parsed, cancellationToken) => Task.Run(() => Run(parsed.GetRequiredValue(input),
            parsed.GetRequiredValue(output), parsed.GetValue(groupSize), cancellationToken), CancellationToken.None));
        return command;
    }

    static int Run(string input, string output, int groupSize, CancellationToken cancellationToken)
    {
        if (Path.GetFullPath(input) == Path.GetFullPath(output))
        {
            Console.Error.WriteLine($"error: the output would overwrite the input {input}; give another file name");
            return 1;
        }
        try
        {
            int fitted;
            long inputBytes;
            using (var source = Checkpoint.Open(input))
            {
                // A Hugging Face folder or GGUF file needs its vocabulary written too, and a check that a .bin can
                // describe it: convert does both.
                if (!source.Format.StartsWith("llama2.c", StringComparison.Ordinal))
                {
                    Console.Error.WriteLine($"error: {input} is a {source.Format} model, not a llama2.c checkpoint; " +
                        $"`convert {input} {output} --version 2` writes its int8 checkpoint and tokenizer.bin");
                    return 1;
                }
                fitted = GroupSizeOption.Fit(source.Config, groupSize);
                inputBytes = source.FileBytes;
            }
            // The bar is completed before any of the messages below, however the quantizing ends.
            var layout = ProgressBar.OnStandardError(bar => CheckpointQuantizer.QuantizeFile(input, output, fitted,
                bar.ForFraction($"quantizing {Path.GetFileName(input)} to {Path.GetFileName(output)}"), cancellationToken));
            string ratio = ((double)layout.FileBytes / inputBytes).ToString("0.00", CultureInfo.InvariantCulture);
            Console.Error.WriteLine($"wrote {output}: {layout.FileBytes} bytes, {ratio}× the input's size, Q8_0, group size {layout.GroupSize}");
            return 0;
        }
        catch (CheckpointFormatException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"error: cannot write {output}: {e.Message}");
            return 1;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine($"cancelled; {output} was not written");
            return RunCommand.Cancelled;
        }
    }
}

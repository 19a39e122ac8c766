using System.Text.RegularExpressions;
using static Llama2.Engine.Tests.Cli.CliCommandLineTests;
using static Llama2.Engine.Tests.Cli.CliTests;

namespace Llama2.Engine.Tests.Cli;

/// <summary>
/// The training verbs as a user runs them: text → train-tokenizer → pretokenize → train → export → the run command, on
/// a small text and a tiny model, in a temporary folder; Ctrl+C and --resume; and the errors.
/// </summary>
public sealed class CliTrainingTests
{
    /// <summary>Lines of a small made-up language: a few hundred sentences from a handful of words, one per line.</summary>
    static string[] Sentences(int count)
    {
        string[] who = ["the king", "a shepherd", "the people", "his servant", "the lord"], did = ["went", "spake", "came", "dwelt", "said"],
            where = ["unto the city", "in the land", "upon the hill", "by the river", "before the gate"];
        var random = new Random(3);
        return Enumerable.Range(0, count)
            .Select(_ => $"And {who[random.Next(who.Length)]} {did[random.Next(did.Length)]} {where[random.Next(where.Length)]}.")
            .ToArray();
    }

    /// <summary>The text, its tokenizer and its dataset folder in <paramref name="dir"/>, made with the CLI.</summary>
    static (string Tokenizer, string Data) Prepare(TempDirectory dir)
    {
        File.WriteAllLines(dir.File("text.txt"), Sentences(600));
        var tokenizer = RunCli("train-tokenizer", dir.File("text.txt"), "--split", "lines", "--vocab-size", "320", "-o", dir.File("tok.bin"));
        Assert.True(tokenizer.ExitCode == 0, tokenizer.Stderr);
        Assert.Matches(@"saved .*tok\.bin: 320 tokens \(3 special, 256 bytes, \d+ learned, \d+ characters", tokenizer.Stdout);
        Assert.Matches(@"600 documents, [\d,]+ bytes; encoded in [\d,]+ tokens, \d+\.\d\d bytes/token", tokenizer.Stdout);

        var data = RunCli("pretokenize", dir.File("text.txt"), "--split", "lines", "-z", dir.File("tok.bin"), "-o", dir.File("data"));
        Assert.True(data.ExitCode == 0, data.Stderr);
        Assert.Matches(@"train\.bin \(\d+ documents, [\d,]+ tokens\) and .*val\.bin \(\d+ documents", data.Stdout);
        Assert.True(File.Exists(dir.File("data/dataset.json")));
        return (dir.File("tok.bin"), dir.File("data"));
    }

    static readonly string[] TinyModel =
        ["--dim", "32", "--layers", "2", "--heads", "4", "--kv-heads", "2", "--seq-len", "32", "--batch-size", "8", "--threads", "1"];

    [Fact]
    public void Text_to_tokenizer_to_dataset_to_trained_model_to_export_runs_in_the_run_command()
    {
        using var dir = new TempDirectory();
        var (tokenizer, data) = Prepare(dir);
        var outDir = dir.File("out");

        var train = RunCli([
            "train", "--data", data, .. TinyModel, "--steps", "200", "--lr", "1e-2", "--warmup", "10", "--eval-interval", "100",
            "--eval-batches", "4", "--sample-tokens", "12", "--out", outDir,
        ]);
        Assert.True(train.ExitCode == 0, train.Stderr);
        Assert.Contains("training dim 32, hidden 96, layers 2, heads 4, kv heads 2, vocab 320, seq_len 32", train.Stdout);
        var losses = Regex.Matches(train.Stdout, @"^step (\d+): validation loss (\d+\.\d+)$", RegexOptions.Multiline)
            .ToDictionary(m => int.Parse(m.Groups[1].Value), m => float.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal([0, 100, 200], losses.Keys);
        Assert.True(losses[200] < losses[0] / 4, $"validation loss {losses[0]} → {losses[200]}");
        Assert.Matches(@"sample: \S", train.Stdout); // the sample as text, through the dataset's tokenizer
        Assert.Contains("finished at step 200 after ", train.Stdout);
        Assert.Contains("step 200/200 | loss ", train.Stderr); // the progress bar, one line per tenth when redirected
        foreach (var file in new[] { "checkpoint.bin", "model.bin", "loss.csv", "loss.png" }) Assert.True(File.Exists(Path.Combine(outDir, file)), file);

        // export: version 0 is the model the run wrote; version 1 the same weights behind the 256-byte header.
        var v0 = RunCli("export", "--checkpoint", Path.Combine(outDir, "checkpoint.bin"), "-o", dir.File("v0.bin"));
        Assert.True(v0.ExitCode == 0, v0.Stderr);
        Assert.Equal(File.ReadAllBytes(Path.Combine(outDir, "model.bin")), File.ReadAllBytes(dir.File("v0.bin")));
        var v1 = RunCli("export", "--checkpoint", Path.Combine(outDir, "checkpoint.bin"), "--version", "1", "-o", dir.File("v1.bin"));
        Assert.True(v1.ExitCode == 0, v1.Stderr);
        Assert.Matches(@"wrote .*v1\.bin: version 1, dim 32, .* \([\d,]+ parameters, [\d,]+ bytes\)", v1.Stdout);

        // version 2: byte for byte what quantize makes of version 0, the default group size backing off as quantize's does.
        var v2 = RunCli("export", "--checkpoint", Path.Combine(outDir, "checkpoint.bin"), "--version", "2", "-o", dir.File("v2.bin"));
        Assert.True(v2.ExitCode == 0, v2.Stderr);
        Assert.Contains("group size 64 does not divide dim 32; using 32", v2.Stderr);
        Assert.Matches(@"wrote .*v2\.bin: version 2 \(Q8_0, group size 32\), dim 32, .* \([\d,]+ parameters, [\d,]+ bytes\)", v2.Stdout);
        var quantized = RunCli("quantize", dir.File("v0.bin"), dir.File("quantized.bin"));
        Assert.True(quantized.ExitCode == 0, quantized.Stderr);
        Assert.Equal(File.ReadAllBytes(dir.File("quantized.bin")), File.ReadAllBytes(dir.File("v2.bin")));
        var v2Group16 = RunCli("export", "--checkpoint", Path.Combine(outDir, "checkpoint.bin"), "--version", "2", "--group-size", "16",
            "-o", dir.File("v2-16.bin"));
        Assert.True(v2Group16.ExitCode == 0, v2Group16.Stderr);
        Assert.Equal(0, RunCli("quantize", dir.File("v0.bin"), dir.File("quantized-16.bin"), "--group-size", "16").ExitCode);
        Assert.Equal(File.ReadAllBytes(dir.File("quantized-16.bin")), File.ReadAllBytes(dir.File("v2-16.bin")));

        // Both run, greedy, to the same text: a sentence of the made-up language, learned.
        var run0 = RunCli(dir.File("v0.bin"), "-z", tokenizer, "-t", "0", "-n", "24", "-i", "And the");
        var run1 = RunCli(dir.File("v1.bin"), "-z", tokenizer, "-t", "0", "-n", "24", "-i", "And the");
        Assert.True(run0.ExitCode == 0, run0.Stderr);
        Assert.Equal(run0.Stdout, run1.Stdout);
        Assert.Matches(@"^And the (king|people|lord) (went|spake|came|dwelt|said) (unto the city|in the land|upon the hill|by the river|before the gate)\.\n$",
            run0.Stdout);
    }

    [Fact]
    public async Task Ctrl_C_finishes_the_step_saves_and_exits_130_and_resume_continues_from_there()
    {
        Assert.SkipWhen(OperatingSystem.IsWindows(), "sends SIGINT with kill(1)");
        using var dir = new TempDirectory();
        var (_, data) = Prepare(dir);
        var outDir = dir.File("out");

        int first = await TrainUntilInterrupted(["train", "--data", data, .. TinyModel, "--steps", "1000000", "--eval-interval", "1000000",
            "--eval-batches", "1", "--out", outDir]);
        foreach (var file in new[] { "checkpoint.bin", "model.bin", "loss.csv" }) Assert.True(File.Exists(Path.Combine(outDir, file)), file);
        var run = RunCli(Path.Combine(outDir, "model.bin"), "-z", dir.File("tok.bin"), "-t", "0", "-n", "8");
        Assert.True(run.ExitCode == 0, run.Stderr);

        int second = await TrainUntilInterrupted(["train", "--resume", "--out", outDir], expect: "resuming dim 32");
        Assert.True(second > first, $"resumed at {first}, stopped at {second}");

        AssertRefused(RunCli("train", "--resume", "--out", outDir, "--lr", "1"), "--resume continues the run with its saved options; --lr cannot change them");
    }

    /// <summary>Starts a training run, sends SIGINT once it trains, and returns the step it stopped and saved at.</summary>
    static async Task<int> TrainUntilInterrupted(string[] args, string expect = "training dim 32")
    {
        using var cli = StartCli(args);
        cli.StandardInput.Close();
        var stderr = cli.StandardError.ReadToEndAsync(TestToken);
        var stdout = new System.Text.StringBuilder();
        while (await cli.StandardOutput.ReadLineAsync(TestToken) is { } line)
        {
            stdout.AppendLine(line);
            if (line.StartsWith("step 0: validation loss") || (line.StartsWith("on ") && args.Contains("--resume"))) break;
        }
        Assert.Contains(expect, stdout.ToString());
        await Task.Delay(300, TestToken); // lets it train a few steps past the start
        using (var kill = System.Diagnostics.Process.Start("kill", ["-INT", cli.Id.ToString()]))
            await kill.WaitForExitAsync(TestToken);
        stdout.Append(await cli.StandardOutput.ReadToEndAsync(TestToken));
        Assert.True(cli.WaitForExit(60_000), "the CLI did not stop after SIGINT");

        Assert.Equal(130, cli.ExitCode);
        Assert.Contains("cancelled; continue with: Llama2.Cli train --resume --out ", await stderr);
        var stopped = Regex.Match(stdout.ToString(), @"stopped at step (\d+) after .*; saved ");
        Assert.True(stopped.Success, stdout.ToString());
        return int.Parse(stopped.Groups[1].Value);
    }

    [Fact]
    public void Bad_inputs_are_one_error_line_and_exit_1()
    {
        using var dir = new TempDirectory();
        foreach (var (args, message) in new (string[], string)[]
                 {
                     (["train-tokenizer", dir.File("missing.txt"), "--vocab-size", "300", "-o", dir.File("t.bin")], "is neither a file nor a folder"),
                     (["pretokenize", dir.Path, "-z", dir.File("missing.bin"), "-o", dir.File("d")], "tokenizer file not found"),
                     (["train", "--data", dir.Path], "holds no dataset.json"),
                     (["export", "--checkpoint", dir.File("missing.bin"), "-o", dir.File("m.bin")], "no training checkpoint at"),
                 })
        {
            File.WriteAllText(dir.File("some.txt"), "text");
            var (exit, stdout, stderr) = RunCli(args);
            Assert.True(exit == 1, $"{string.Join(' ', args)}: exit {exit}");
            Assert.StartsWith("error: ", stderr.TrimStart());
            Assert.Contains(message, stderr);
            Assert.DoesNotContain("   at ", stderr);
        }
    }

    [Theory]
    [InlineData("train", "no training data: give --data")]
    [InlineData("train --data d --train-tokens t.bin", "give --data or --train-tokens, not both")]
    [InlineData("train --train-tokens t.bin", "--train-tokens needs --vocab")]
    [InlineData("train --data d --vocab 300", "--vocab goes with --train-tokens")]
    [InlineData("train --data d --lr -1", "--lr takes a number of at least 0, not '-1'")]
    [InlineData("train --train-tokens t.bin --vocab 300 --token-type int8", "'int8'")]
    [InlineData("train-tokenizer t.txt -o t.bin", "--vocab-size")]
    [InlineData("train-tokenizer t.txt --vocab-size 100 -o t.bin", "--vocab-size takes a whole number from 260 to 1048576, not '100'")]
    [InlineData("pretokenize t.txt -z t.bin -o d --split words", "'words'")]
    [InlineData("export -o m.bin --version 3", "--version takes a whole number from 0 to 2, not '3'")]
    [InlineData("export -o m.bin --group-size 16", "--group-size goes with --version 2 (int8)")]
    [InlineData("export -o m.bin --version 2 --group-size 0", "--group-size takes a whole number from 1 to 65536, not '0'")]
    public void Command_line_errors_are_refused_with_the_usage(string commandLine, string message) =>
        AssertRefused(RunCli(commandLine.Split(' ')), message);

    [Fact]
    public void Train_help_lists_train_py_options_with_their_defaults()
    {
        var (exit, stdout, _) = RunCli("train", "--help");
        Assert.Equal(0, exit);
        foreach (var option in new[]
                 {
                     "--data <folder>", "--train-tokens <file>", "--dim <int>", "--kv-heads <int>", "--seq-len <int>", "--batch-size <int>",
                     "--grad-accum <int>", "--steps <int>", "--lr <float>", "--eval-interval <int>", "--out <folder>", "--resume",
                     "--init-from <file>", "--threads <int>",
                 })
            Assert.Contains(option, stdout);
        Assert.Matches(@"--dim <int>\s+model width \[default: 288\]", stdout);
        Assert.Matches(@"--lr <float>\s+peak learning rate \[default: 0\.0005\]", stdout);
    }
}

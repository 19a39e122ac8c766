using System.Diagnostics;
using Llama2.Training.Batches;

namespace Llama2.Training.Tests;

/// <summary>
/// llama2.c's own run.c on the version-0 export: trained on <see cref="TestCorpus"/>, the model run greedily from
/// BOS by run.c prints one of the sentences and stops, as the engine's sample does. Needs a built run.c (git clone
/// llama2.c, make run) named by LLAMA2C_RUN; skipped without it, since CI has no llama2.c.
/// </summary>
public sealed class RunCExportTests
{
    [Fact]
    public void RunCGeneratesWithTheVersionZeroExport()
    {
        string? run = Environment.GetEnvironmentVariable("LLAMA2C_RUN");
        if (string.IsNullOrEmpty(run)) Assert.Skip("set LLAMA2C_RUN to llama2.c's run binary to check that run.c reads the export");
        Assert.True(File.Exists(run), $"LLAMA2C_RUN: no file at {run}");

        using var temp = new TempDirectory();
        TestCorpus.Write(temp.File("train.bin"), TestCorpus.Documents(3000, seed: 2));
        var result = new TrainingRunner(new TrainingOptions
        {
            Dim = 32, Layers = 2, Heads = 4, KvHeads = 2, VocabSize = 32, SeqLen = 32, HiddenDim = 64, TrainTokens = temp.File("train.bin"),
            BatchSize = 8, MaxSteps = 100, LearningRate = 1e-2f, WarmupSteps = 10, EvalInterval = 100, EvalBatches = 1,
            SampleTemperature = 0, SampleTokens = 20, OutputDirectory = temp.File("out"),
        }).Run(cancellationToken: TestContext.Current.CancellationToken);

        // A tokenizer.bin whose piece for token i is " t<i>", so run.c's output reads back as ids.
        using (var writer = new BinaryWriter(File.Create(temp.File("tokenizer.bin"))))
        {
            var pieces = new[] { "<unk>", "\n<s>\n", "\n</s>\n" }.Concat(Enumerable.Range(3, 29).Select(i => $" t{i}")).ToArray();
            writer.Write(pieces.Max(p => p.Length));
            foreach (var piece in pieces)
            {
                writer.Write(0f);
                writer.Write(piece.Length);
                writer.Write(Encoding.ASCII.GetBytes(piece));
            }
        }
        var start = new ProcessStartInfo(run) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { result.ModelPath, "-z", temp.File("tokenizer.bin"), "-t", "0", "-n", "30" }) start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.Equal(0, process.ExitCode);
        var ids = output.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(t => int.Parse(t[1..])).ToArray();
        Assert.Contains(TestCorpus.Sentences, s => s.SequenceEqual(ids));
    }
}

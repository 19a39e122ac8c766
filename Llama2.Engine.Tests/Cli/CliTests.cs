using System.Diagnostics;

namespace Llama2.Engine.Tests.Cli;

/// <summary>Runs the built CLI as a user would, through <c>dotnet Llama2.Cli.dll</c>.</summary>
public sealed class CliTests
{
    /// <summary>Starts the CLI with stdin, stdout and stderr redirected (so none is a terminal).</summary>
    internal static Process StartCli(params string[] args) => StartCli(new Dictionary<string, string?>(), args);

    /// <summary>Starts the CLI with these environment variables set (null: removed) besides the test's own.</summary>
    internal static Process StartCli(IReadOnlyDictionary<string, string?> environment, params string[] args)
    {
        var cli = Path.Combine(AppContext.BaseDirectory, "Llama2.Cli.dll");
        Assert.True(File.Exists(cli), $"built CLI not found at {cli}");
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            StandardInputEncoding = new UTF8Encoding(false),
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        start.ArgumentList.Add(cli);
        foreach (var a in args) start.ArgumentList.Add(a);
        foreach (var (name, value) in environment) start.Environment[name] = value;
        return Process.Start(start)!;
    }

    /// <summary>Runs the CLI to its end with stdin closed.</summary>
    internal static (int ExitCode, string Stdout, string Stderr) RunCli(params string[] args) => RunCliWithInput("", args);

    /// <summary>Runs the CLI to its end with <paramref name="stdin"/> as its whole standard input.</summary>
    internal static (int ExitCode, string Stdout, string Stderr) RunCliWithInput(string stdin, params string[] args) =>
        RunCliWith(new Dictionary<string, string?>(), stdin, args);

    /// <summary>Runs the CLI to its end with these environment variables and <paramref name="stdin"/>.</summary>
    internal static (int ExitCode, string Stdout, string Stderr) RunCliWith(IReadOnlyDictionary<string, string?> environment,
        string stdin, params string[] args)
    {
        using var process = StartCli(environment, args);
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        try
        {
            process.StandardInput.Write(stdin);
            process.StandardInput.Close();
        }
        catch (IOException)
        {
            // The CLI ended without reading all of it: what it printed says why.
        }
        Assert.True(process.WaitForExit(120_000), "CLI did not finish in 2 minutes");
        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    [Fact]
    public void Greedy_golden_case_prints_prompt_and_runc_tokens_with_the_emoji_intact()
    {
        var golden = GoldenCases.Get("tiny32k-unicode-greedy");
        var (exit, stdout, stderr) = RunCli(golden.ModelPath, "-z", golden.TokenizerPath,
            "-t", "0", "-n", golden.Steps.ToString(), "-i", golden.Prompt!);

        Assert.Equal(0, exit);
        var tokenizer = Tokenizer.Load(golden.TokenizerPath, golden.VocabSize);
        var expected = tokenizer.DecodeAll(golden.PromptIds.Skip(1).Concat(golden.ExpectedIds)) + "\n";
        Assert.Equal(expected, stdout);
        Assert.StartsWith(golden.Prompt!, stdout);
        Assert.Contains("🦙", stdout);
        Assert.Matches(@"achieved tok/s: \d+(\.\d+)?", stderr);
    }

    [Fact]
    public void Without_a_checkpoint_it_runs_the_shipped_model_with_its_own_tokenizer()
    {
        var (exit, stdout, stderr) = RunCli("-t", "0", "-i", "And God said");
        Assert.True(exit == 0, stderr);
        using var model = DefaultModel.Load();
        var prompt = model.Tokenizer.Encode("And God said", bos: true, eos: false);
        var sequence = model.StartSequence(new GenerationRequest
        {
            PromptIds = prompt, MaxNewTokens = 256 - prompt.Count + 1, StopAtEos = false, Sampling = new SamplingOptions { Temperature = 0 },
        });
        var expected = new System.Text.StringBuilder("And God said");
        while (sequence.Next() is { } token) expected.Append(token.Text);
        Assert.Equal(expected + "\n", stdout);
        Assert.EndsWith(".\n", stdout); // a verse, ended by the BOS the model learned to write after one

        // A checkpoint named without -z takes run.c's default, tokenizer.bin in the working directory.
        var named = RunCli(DefaultModel.CheckpointPath, "-n", "8");
        Assert.Equal(1, named.ExitCode);
        Assert.Contains("tokenizer.bin", named.Stderr);
    }

    [Fact]
    public void Unknown_flag_prints_usage_and_exits_1()
    {
        var (exit, stdout, stderr) = RunCli("model.bin", "-q", "1");
        Assert.Equal(1, exit);
        Assert.Equal("", stdout);
        Assert.Contains("Usage:", stderr);
        Assert.Contains("-q", stderr);
    }

    [Fact]
    public void Bad_checkpoint_is_a_clear_error_not_a_crash()
    {
        using var dir = new TempDirectory();
        var path = dir.File("garbage.bin");
        File.WriteAllBytes(path, new byte[100]);
        var (exit, _, stderr) = RunCli(path, "-z", path);
        Assert.Equal(1, exit);
        Assert.Contains(path, stderr);
        Assert.DoesNotContain("   at ", stderr); // no stack trace
    }

    [Fact]
    public void Runs_a_written_model_with_sampling_flags_and_seed_reproducibly()
    {
        using var dir = new TempDirectory();
        var (checkpoint, tokenizer) = TestModels.WriteSmallModel(dir);
        var first = RunCli(checkpoint, "-z", tokenizer, "-t", "0.8", "-p", "0.9", "-s", "17", "-n", "30", "-i", "ab");
        var second = RunCli(checkpoint, "-z", tokenizer, "-t", "0.8", "-p", "0.9", "-s", "17", "-n", "30", "-i", "ab");
        Assert.Equal(0, first.ExitCode);
        Assert.StartsWith("ab", first.Stdout);
        Assert.True(first.Stdout.Length > 3);
        Assert.Equal(first.Stdout, second.Stdout);
    }

    [Fact]
    public void With_context_shift_n_beyond_the_context_generates_that_many_positions()
    {
        const string Prompt = "Once upon a time";
        string[] flags = [SharedData.Tiny32k, "-z", SharedData.Tokenizer32k, "-t", "0", "-n", "384", "-i", Prompt];
        List<int> promptIds, shifted = [], clamped = [];
        GenerationSummary? summary = null;
        using (var model = LlamaModel.Load(SharedData.Tiny32k, SharedData.Tokenizer32k))
        {
            promptIds = model.Tokenizer.Encode(Prompt, bos: true, eos: false);
            var request = new GenerationRequest
            {
                PromptIds = promptIds, MaxNewTokens = 384 - promptIds.Count + 1, StopAtEos = false,
                Sampling = new Engine.Sampling.SamplingOptions { Temperature = 0 }, ContextShift = new ContextShift(),
            };
            var sequence = model.StartSequence(request);
            while (sequence.Next() is { } token)
            {
                shifted.Add(token.Id);
                summary = token.Summary ?? summary;
            }
            sequence = model.StartSequence(request with { MaxNewTokens = 128 - promptIds.Count + 1, ContextShift = null });
            while (sequence.Next() is { } token) clamped.Add(token.Id);
        }
        var tokenizer = Tokenizer.Load(SharedData.Tokenizer32k);
        Assert.Equal(384 - promptIds.Count + 1, shifted.Count);

        var (exit, stdout, stderr) = RunCli([.. flags, "--context-shift"]);
        Assert.True(exit == 0, stderr);
        Assert.Equal(tokenizer.DecodeAll(promptIds.Skip(1).Concat(shifted)) + "\n", stdout);
        Assert.True(summary!.ContextShifts >= 4);
        Assert.Contains($"context shifted {summary.ContextShifts} times ({summary.DiscardedTokens} of the oldest tokens dropped)", stderr);

        // Without the flag, run.c's clamp to the context.
        (exit, stdout, stderr) = RunCli(flags);
        Assert.True(exit == 0, stderr);
        Assert.Equal(tokenizer.DecodeAll(promptIds.Skip(1).Concat(clamped)) + "\n", stdout);
        Assert.DoesNotContain("context shifted", stderr);
    }
}

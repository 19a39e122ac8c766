using System.Text.RegularExpressions;
using static Llama2.Engine.Tests.Cli.CliTests;

namespace Llama2.Engine.Tests.Cli;

/// <summary>The command line itself: help, long names, refused values. Runs the built CLI as a user would.</summary>
public sealed class CliCommandLineTests
{
    [Fact]
    public void Help_without_a_verb_lists_runc_flags_with_their_long_names_and_the_verbs()
    {
        var (exit, stdout, stderr) = RunCli("--help");

        Assert.Equal(0, exit);
        Assert.Equal("", stderr);
        Assert.Contains("Usage:", stdout);
        Assert.Contains("<checkpoint>", stdout);
        foreach (var flag in new[]
                 {
                     "-t, --temperature <float>", "-p, --top-p <float>", "-s, --seed <int>", "-n, --steps <int>",
                     "-i, --prompt <string>", "-z, --tokenizer <path>", "-m, --mode <chat|generate>",
                     "-y, --system-prompt <string>", "--threads <int>", "--context-shift",
                 })
            Assert.Contains(flag, stdout);
        Assert.Matches(@"\[default: 0\.9\]", stdout); // run.c's top-p
        Assert.Contains("download", Verbs(stdout));
    }

    [Fact]
    public void Every_verb_has_its_own_help_without_the_checkpoint_argument()
    {
        var verbs = Verbs(RunCli("--help").Stdout);
        Assert.NotEmpty(verbs);
        foreach (var verb in verbs)
        {
            var (exit, stdout, stderr) = RunCli(verb, "--help");
            Assert.True(exit == 0, $"{verb} --help exited with {exit}: {stderr}");
            Assert.Contains($"Usage:\n  Llama2.Cli {verb} ", stdout.ReplaceLineEndings("\n"));
            Assert.DoesNotContain("<checkpoint>", stdout);
        }
    }

    [Fact]
    public void Download_help_names_its_argument_and_options()
    {
        var (exit, stdout, _) = RunCli("download", "-h");
        Assert.Equal(0, exit);
        Assert.Contains("Llama2.Cli download [<model>] [options]", stdout);
        Assert.Contains("stories15M, stories42M, stories110M", stdout);
        Assert.Contains("--dir <folder>", stdout);
        Assert.Contains("[default: models]", stdout);
        Assert.Contains("--sha256 <hex>", stdout);
        Assert.Contains("--hf <repo>", stdout);
        Assert.Contains("--revision <rev>", stdout);
        Assert.Contains("--file <name>", stdout);
    }

    [Theory]
    [InlineData("-t", "abc", "-t takes a number, not 'abc'")]
    [InlineData("--temperature", "NaN", "--temperature takes a number, not 'NaN'")]
    [InlineData("-p", "0,9", "-p takes a number, not '0,9'")]
    [InlineData("-n", "1.5", "-n takes a whole number, not '1.5'")]
    [InlineData("-s", "x", "-s takes a whole number, not 'x'")]
    [InlineData("--threads", "0", "--threads takes a whole number from 1 to 256, not '0'")]
    [InlineData("--threads", "257", "--threads takes a whole number from 1 to 256, not '257'")]
    [InlineData("-m", "talk", "'talk'")]
    public void A_bad_flag_value_is_refused_with_a_message_naming_it_and_the_usage_on_stderr(string flag, string value, string message)
    {
        var refused = AssertRefused(RunCli("model.bin", flag, value), message);
        Assert.DoesNotContain("model.bin", refused); // refused before any file is opened
    }

    [Fact]
    public void A_flag_without_its_value_is_refused()
    {
        AssertRefused(RunCli("model.bin", "-t"), "'-t'");
        AssertRefused(RunCli("-t"), "'-t'");
    }

    /// <summary>A command line in error: exit code 1, nothing on stdout, the message and the usage on stderr.</summary>
    internal static string AssertRefused((int ExitCode, string Stdout, string Stderr) result, string message)
    {
        Assert.Equal(1, result.ExitCode);
        Assert.Equal("", result.Stdout);
        Assert.Contains(message, result.Stderr);
        Assert.Contains("Usage:", result.Stderr);
        return result.Stderr;
    }

    [Fact]
    public void Long_names_are_the_same_flags_as_runc_short_ones()
    {
        using var dir = new TempDirectory();
        var (checkpoint, tokenizer) = TestModels.WriteSmallModel(dir);
        var shortFlags = RunCli(checkpoint, "-z", tokenizer, "-t", "0.8", "-p", "0.5", "-s", "5", "-n", "20", "-i", "ab", "-m", "generate");
        var longNames = RunCli(checkpoint, "--tokenizer", tokenizer, "--temperature", "0.8", "--top-p", "0.5", "--seed", "5",
            "--steps", "20", "--prompt", "ab", "--mode", "generate");
        var otherSeed = RunCli(checkpoint, "--tokenizer", tokenizer, "--temperature", "0.8", "--top-p", "0.5", "--seed", "6",
            "--steps", "20", "--prompt", "ab");

        Assert.Equal(0, shortFlags.ExitCode);
        Assert.Equal(0, longNames.ExitCode);
        Assert.StartsWith("ab", shortFlags.Stdout);
        Assert.Equal(shortFlags.Stdout, longNames.Stdout);
        Assert.NotEqual(shortFlags.Stdout, otherSeed.Stdout); // the seed was read, not left at a default
    }

    [Fact]
    public void A_prompt_starting_with_at_is_text_not_a_response_file()
    {
        using var dir = new TempDirectory();
        var (checkpoint, tokenizer) = TestModels.WriteSmallModel(dir);
        var (exit, stdout, stderr) = RunCli(checkpoint, "-z", tokenizer, "-t", "0", "-n", "10", "-i", "@ab");
        Assert.True(exit == 0, stderr);
        Assert.StartsWith("@ab", stdout);
    }

    /// <summary>The verbs listed under "Commands:" in the help.</summary>
    static List<string> Verbs(string help) =>
        help.ReplaceLineEndings("\n").Split("\nCommands:\n") is [_, var commands]
            ? Regex.Matches(commands, @"^  (\S+)", RegexOptions.Multiline).Select(m => m.Groups[1].Value).ToList()
            : [];
}

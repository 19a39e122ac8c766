namespace Llama2.Engine.Tests.Cli;

/// <summary><c>Llama2.Cli quantize</c> and <c>--quantize q8_0</c>, run as a user runs them.</summary>
public sealed class CliQuantizeTests
{
    [Fact]
    public void Quantize_writes_export_py_s_file_with_a_progress_bar_and_says_the_group_size()
    {
        using var dir = new TempDirectory();
        var output = dir.File("tiny32k-q80.bin");
        var (exit, stdout, stderr) = CliTests.RunCli("quantize", SharedData.Tiny32k, output);

        Assert.Equal(0, exit);
        Assert.Equal("", stdout);
        Assert.Equal(File.ReadAllBytes(SharedData.Require("models/tiny32k-q80.bin")), File.ReadAllBytes(output));
        Assert.Contains("group size 64 does not divide dim 48; using 16", stderr);
        Assert.Contains("[##############################] quantizing tiny32k.bin to tiny32k-q80.bin: 100%", stderr);
        Assert.Contains($"wrote {output}: 3902656 bytes, 0.31× the input's size, Q8_0, group size 16", stderr);
        Assert.Single(Directory.GetFiles(dir.Path)); // no temporary file left
    }

    [Fact]
    public void Run_with_quantize_q8_0_prints_what_the_quantized_file_prints()
    {
        using var dir = new TempDirectory();
        var quantized = dir.File("q8.bin");
        Assert.Equal(0, CliTests.RunCli("quantize", SharedData.Tiny32k, quantized).ExitCode);
        string[] flags = ["-z", SharedData.Tokenizer32k, "-t", "0", "-n", "40", "-i", "Once upon a time"];

        var atLoad = CliTests.RunCli([SharedData.Tiny32k, .. flags, "--quantize", "q8_0"]);
        var fromFile = CliTests.RunCli([quantized, .. flags]);
        var fp32 = CliTests.RunCli([SharedData.Tiny32k, .. flags]);

        Assert.Equal(0, atLoad.ExitCode);
        Assert.Equal(fromFile.Stdout, atLoad.Stdout);
        Assert.NotEqual(fp32.Stdout, atLoad.Stdout); // int8 weights: different tokens on this random model
        Assert.Contains("quantizing tiny32k.bin to q8_0: 100%", atLoad.Stderr);
        Assert.DoesNotContain("quantizing", fromFile.Stderr);
    }

    [Fact]
    public void Quantize_refuses_an_int8_input_and_keeps_no_output()
    {
        using var dir = new TempDirectory();
        var output = dir.File("again.bin");
        var (exit, _, stderr) = CliTests.RunCli("quantize", SharedData.Require("models/tiny32k-q80.bin"), output);
        Assert.Equal(1, exit);
        Assert.Contains("already quantized", stderr);
        Assert.DoesNotContain("   at ", stderr);
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void Quantize_refuses_to_overwrite_its_input()
    {
        using var dir = new TempDirectory();
        var (checkpoint, _) = TestModels.WriteSmallModel(dir);
        var before = File.ReadAllBytes(checkpoint);
        var (exit, _, stderr) = CliTests.RunCli("quantize", checkpoint, checkpoint);
        Assert.Equal(1, exit);
        Assert.Contains("overwrite the input", stderr);
        Assert.Equal(before, File.ReadAllBytes(checkpoint));
    }

    [Fact]
    public void Quantize_of_a_missing_or_bad_file_is_one_message()
    {
        using var dir = new TempDirectory();
        var missing = CliTests.RunCli("quantize", dir.File("none.bin"), dir.File("out.bin"));
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("checkpoint file not found", missing.Stderr);

        var garbage = dir.File("garbage.bin");
        File.WriteAllBytes(garbage, new byte[100]);
        var bad = CliTests.RunCli("quantize", garbage, dir.File("out.bin"));
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains(garbage, bad.Stderr);
        Assert.False(File.Exists(dir.File("out.bin")));
    }

    [Theory]
    [InlineData("--group-size", "0", "--group-size takes a whole number from 1 to 65536, not '0'")]
    [InlineData("--group-size", "x", "--group-size takes a whole number from 1 to 65536, not 'x'")]
    public void Quantize_refuses_a_bad_group_size(string flag, string value, string expected)
    {
        var (exit, _, stderr) = CliTests.RunCli("quantize", SharedData.Tiny32k, "out.bin", flag, value);
        Assert.Equal(1, exit);
        Assert.Contains(expected, stderr);
    }

    [Fact]
    public void Run_refuses_an_unknown_quantization()
    {
        var (exit, _, stderr) = CliTests.RunCli("model.bin", "--quantize", "q4_0");
        Assert.Equal(1, exit);
        Assert.Contains("q4_0", stderr);
    }
}

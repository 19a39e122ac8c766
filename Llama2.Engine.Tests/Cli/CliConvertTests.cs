using Llama2.Engine.Tests.Formats;
using static Llama2.Engine.Tests.Cli.CliTests;
using static Llama2.Engine.Tests.Formats.ForeignModels;

namespace Llama2.Engine.Tests.Cli;

/// <summary><c>Llama2.Cli convert</c>, run as a user would: the converted model generates what the original does.</summary>
public sealed class CliConvertTests : IDisposable
{
    readonly TempDirectory _dir = new();
    readonly string _original;

    public CliConvertTests()
    {
        _original = _dir.File("original.bin");
        CheckpointWriter.WriteRandom(_original, TestModels.Small(sharedClassifier: false), version: 0, seed: 21);
    }

    public void Dispose() => _dir.Dispose();

    static readonly List<(string Piece, float Score, Llama2.Engine.Formats.PieceType Type)> Pieces =
        SentencePieceWriter.LlamaStylePieces(300, "▁a", "▁b", "ab", "▁ab", "▁the");

    string HuggingFace(HuggingFaceOptions options)
    {
        using var bin = Checkpoint.Open(_original);
        return WriteHuggingFace(bin, _dir.File("Llama-test-hf"), options with { Pieces = Pieces });
    }

    /// <summary>Greedy generation from a prompt: the same weights and tokenizer give the same text.</summary>
    static string Generate(string checkpoint, string tokenizer)
    {
        var (exit, stdout, stderr) = RunCli(checkpoint, "-z", tokenizer, "-t", "0", "-n", "40", "-i", "a b ab the");
        Assert.True(exit == 0, stderr);
        return stdout;
    }

    [Fact]
    public void Converts_a_bf16_hugging_face_folder_and_its_tokenizer_which_then_generate_as_the_rounded_weights_do()
    {
        var folder = HuggingFace(new HuggingFaceOptions { Storage = Storage.BF16, Shards = 2 });
        var output = _dir.File("out/llama-test.bin");

        var (exit, stdout, stderr) = RunCli("convert", folder, output);

        Assert.True(exit == 0, stderr);
        Assert.Equal("", stdout);
        Assert.Contains("Hugging Face (safetensors), BF16; dim 32, hidden 64, layers 2, heads 4, kv heads 2, vocab 300", stderr);
        Assert.Contains("[##############################] writing llama-test.bin: 100%", stderr);
        var tokenizer = _dir.File("out/tokenizer.bin");
        Assert.Contains($"wrote {tokenizer} (300 tokens)", stderr);
        Assert.Contains($"run it: Llama2.Cli {output} -z {tokenizer}", stderr);
        Assert.Equal(new[] { "llama-test.bin", "tokenizer.bin" }, Directory.GetFiles(_dir.File("out")).Select(Path.GetFileName).Order());

        var rounded = _dir.File("rounded.bin");
        using (var bin = Checkpoint.Open(_original)) WriteRounded(bin, rounded, Storage.BF16, normsStayF32: false, version: 0);
        Assert.Equal(Generate(rounded, tokenizer), Generate(output, tokenizer));
        using var converted = Checkpoint.Open(output);
        Assert.Equal(0, converted.Layout.Version);
    }

    [Fact]
    public void Quantize_sends_a_hugging_face_folder_to_convert_and_writes_nothing()
    {
        var folder = HuggingFace(new HuggingFaceOptions { Storage = Storage.BF16 });
        var output = _dir.File("quantized-folder.bin");
        var (exit, _, stderr) = RunCli("quantize", folder, output);
        Assert.Equal(1, exit);
        Assert.Contains($"{folder} is a safetensors model, not a llama2.c checkpoint; `convert {folder} {output} --version 2`", stderr);
        Assert.DoesNotContain("   at ", stderr);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void Runs_a_bf16_hugging_face_folder_directly_with_its_own_vocabulary_as_the_bin_of_its_rounded_weights_runs()
    {
        var folder = HuggingFace(new HuggingFaceOptions { Storage = Storage.BF16, Shards = 2 });
        var rounded = _dir.File("rounded-direct.bin");
        using (var bin = Checkpoint.Open(_original)) WriteRounded(bin, rounded, Storage.BF16, normsStayF32: false, version: 0);
        var tokenizer = _dir.File("direct-tokenizer.bin");
        using (var model = Llama2.Engine.Formats.ExternalModel.Open(folder)) File.WriteAllBytes(tokenizer, model.Vocabulary!.ToTokenizerBin());

        foreach (var quantize in new[] { "none", "q8_0" })
        {
            var (exit, direct, stderr) = RunCli(folder, "-t", "0", "-n", "40", "-i", "a b ab the", "--quantize", quantize); // no -z
            Assert.True(exit == 0, stderr);
            var (binExit, fromBin, binStderr) = RunCli(rounded, "-z", tokenizer, "-t", "0", "-n", "40", "-i", "a b ab the", "--quantize", quantize);
            Assert.True(binExit == 0, binStderr);
            Assert.Equal(fromBin, direct);
        }
    }

    [Fact]
    public void Converts_a_q8_0_gguf_file_to_version_1_with_the_tokenizer_where_asked()
    {
        string gguf;
        using (var bin = Checkpoint.Open(_original))
            gguf = WriteGguf(bin, _dir.File("model.Q8_0.gguf"), new GgufOptions { Storage = Storage.Q8_0, Pieces = Pieces });
        var output = _dir.File("q8.bin");
        var tokenizer = _dir.File("vocab/llama-test-tokenizer.bin");

        var (exit, _, stderr) = RunCli("convert", gguf, output, "--version", "1", "--tokenizer", tokenizer);

        Assert.True(exit == 0, stderr);
        Assert.Contains("GGUF, Q8_0, F32;", stderr);
        var dequantized = _dir.File("dequantized.bin");
        using (var bin = Checkpoint.Open(_original)) WriteRounded(bin, dequantized, Storage.Q8_0, normsStayF32: true);
        Assert.Equal(File.ReadAllBytes(dequantized), File.ReadAllBytes(output));
        Assert.Equal(Generate(dequantized, tokenizer), Generate(output, tokenizer));
    }

    [Fact]
    public void Version_2_is_byte_for_byte_what_quantize_makes_of_version_0()
    {
        var folder = HuggingFace(new HuggingFaceOptions { Storage = Storage.BF16 });
        var (v0, q8, quantized) = (_dir.File("v0/model.bin"), _dir.File("q8/model.bin"), _dir.File("quantized.bin"));
        Assert.Equal(0, RunCli("convert", folder, v0).ExitCode);
        Assert.Equal(0, RunCli("quantize", v0, quantized, "--group-size", "16").ExitCode);

        var (exit, stdout, stderr) = RunCli("convert", folder, q8, "--version", "2", "--group-size", "16");

        Assert.True(exit == 0, stderr);
        Assert.Equal("", stdout);
        Assert.Contains($"wrote {q8} (version 2, Q8_0, group size 16, ", stderr);
        Assert.Equal(File.ReadAllBytes(quantized), File.ReadAllBytes(q8));
        Assert.Equal(Generate(quantized, _dir.File("v0/tokenizer.bin")), Generate(q8, _dir.File("q8/tokenizer.bin")));

        // The default group size backs off for dim 32 as quantize's does.
        var backedOff = RunCli("convert", folder, _dir.File("q8-default.bin"), "--version", "2", "--tokenizer", _dir.File("q8/tokenizer.bin"));
        Assert.True(backedOff.ExitCode == 0, backedOff.Stderr);
        Assert.Contains("group size 64 does not divide dim 32; using 32", backedOff.Stderr);
        using var written = Checkpoint.Open(_dir.File("q8-default.bin"));
        Assert.Equal(32, written.Layout.GroupSize);
    }

    [Fact]
    public void A_group_size_without_version_2_or_a_version_past_2_is_refused()
    {
        var folder = HuggingFace(new HuggingFaceOptions());
        var output = _dir.File("out.bin");
        CliCommandLineTests.AssertRefused(RunCli("convert", folder, output, "--group-size", "16"), "--group-size goes with --version 2 (int8)");
        CliCommandLineTests.AssertRefused(RunCli("convert", folder, output, "--version", "3"), "--version takes a whole number from 0 to 2, not '3'");
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void An_existing_output_is_kept_and_the_conversion_refused()
    {
        var folder = HuggingFace(new HuggingFaceOptions());
        var output = _dir.File("exists.bin");
        File.WriteAllText(output, "precious");
        var (exit, _, stderr) = RunCli("convert", folder, output);
        Assert.Equal(1, exit);
        Assert.Contains($"error: {output} exists", stderr);
        Assert.Equal("precious", File.ReadAllText(output));
    }

    [Fact]
    public void A_tokenizer_bin_of_another_vocabulary_beside_the_output_is_kept_and_the_conversion_refused()
    {
        var folder = HuggingFace(new HuggingFaceOptions());
        var output = _dir.File("here/model.bin");
        Directory.CreateDirectory(_dir.File("here"));
        TestModels.WriteByteTokenizer(_dir.File("here/tokenizer.bin"), 300);
        var before = File.ReadAllBytes(_dir.File("here/tokenizer.bin"));

        var (exit, _, stderr) = RunCli("convert", folder, output);

        Assert.Equal(1, exit);
        Assert.Contains("tokenizer.bin exists with another vocabulary; give --tokenizer PATH", stderr);
        Assert.Equal(before, File.ReadAllBytes(_dir.File("here/tokenizer.bin")));
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void A_malformed_source_is_one_error_naming_the_file_and_the_tensor()
    {
        var folder = HuggingFace(new HuggingFaceOptions());
        var weights = Path.Combine(folder, "model.safetensors");
        using (var f = File.OpenWrite(weights)) f.SetLength(f.Length - 4);
        var output = _dir.File("never.bin");

        var (exit, stdout, stderr) = RunCli("convert", folder, output);

        Assert.Equal(1, exit);
        Assert.Equal("", stdout);
        Assert.StartsWith($"error: {weights}: tensor lm_head.weight ends at byte", stderr);
        Assert.DoesNotContain("   at ", stderr);
        Assert.Empty(Directory.GetFiles(_dir.Path, "never.bin*"));
    }

    [Fact]
    public void A_model_whose_settings_a_bin_cannot_carry_is_refused_or_warned_about()
    {
        var theta = HuggingFace(new HuggingFaceOptions { RopeTheta = 1e6f });
        var (exit, _, stderr) = RunCli("convert", theta, _dir.File("theta.bin"));
        Assert.Equal(1, exit);
        Assert.Contains("rope_theta) is 1000000", stderr);
        Directory.Delete(theta, recursive: true);

        var eps = HuggingFace(new HuggingFaceOptions { RmsNormEps = 1e-6f });
        (exit, _, stderr) = RunCli("convert", eps, _dir.File("eps.bin"));
        Assert.Equal(0, exit);
        Assert.Contains("warning: its RMSNorm epsilon is 1E-06", stderr);
    }

    [Fact]
    public void A_folder_without_tokenizer_model_converts_with_a_warning()
    {
        var folder = HuggingFace(new HuggingFaceOptions());
        File.Delete(Path.Combine(folder, "tokenizer.model"));
        var (exit, _, stderr) = RunCli("convert", folder, _dir.File("solo/model.bin"));
        Assert.Equal(0, exit);
        Assert.Contains("warning: no tokenizer written (the folder has no tokenizer.model)", stderr);
        Assert.Equal(["model.bin"], Directory.GetFiles(_dir.File("solo")).Select(Path.GetFileName));
    }
}

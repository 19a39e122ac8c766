namespace Llama2.Engine.Tests.Model;

/// <summary>The model the repository ships (Llama2.Engine/DefaultModel/), as every program that references the engine finds it.</summary>
public sealed class DefaultModelTests
{
    [Fact]
    public void The_files_are_copied_beside_the_program_and_fit_in_16_MB()
    {
        Assert.Equal(Path.Combine(AppContext.BaseDirectory, "DefaultModel", "kjv-3.5M.bin"), DefaultModel.CheckpointPath);
        Assert.True(File.Exists(DefaultModel.CheckpointPath), $"missing {DefaultModel.CheckpointPath}");
        Assert.True(File.Exists(DefaultModel.TokenizerPath), $"missing {DefaultModel.TokenizerPath}");
        long bytes = new FileInfo(DefaultModel.CheckpointPath).Length + new FileInfo(DefaultModel.TokenizerPath).Length;
        Assert.True(bytes <= 16 * 1000 * 1000, $"{bytes:N0} bytes");
    }

    [Fact]
    public void It_is_the_documented_shape_in_the_format_run_c_reads()
    {
        using var model = DefaultModel.Load();
        Assert.Equal(new ModelConfig(Dim: 256, HiddenDim: 704, NLayers: 4, NHeads: 8, NKvHeads: 4, VocabSize: 2048, SeqLen: 256,
            SharedClassifier: true), model.Config);
        Assert.Equal(0, model.Checkpoint.Layout.Version);
        Assert.Equal(3_475_712, model.Config.ParameterCount);
        Assert.Equal(2048, model.Tokenizer.VocabSize);
    }

    [Fact]
    public void Greedy_generation_continues_a_verse_in_the_words_of_the_King_James_Bible()
    {
        using var model = DefaultModel.Load();
        var sequence = model.StartSequence(new GenerationRequest
        {
            Prompt = "And God said", MaxNewTokens = 60, Sampling = new SamplingOptions { Temperature = 0 },
        });
        var text = new System.Text.StringBuilder();
        int tokens = 0;
        while (sequence.Next() is { } token)
        {
            text.Append(token.Text);
            tokens++;
        }
        TestContext.Current.TestOutputHelper?.WriteLine("And God said" + text);
        Assert.True(tokens >= 5, $"{tokens} tokens: '{text}'");
        var words = text.ToString().Split([' ', ',', '.', ';', ':'], StringSplitOptions.RemoveEmptyEntries);
        Assert.All(words, w => Assert.Matches("^[A-Za-z']+[?!]?$", w)); // English words, no byte soup
        Assert.Contains(words, w => w is "unto" or "LORD" or "thee" or "thou" or "shall" or "him" or "them");
    }
}

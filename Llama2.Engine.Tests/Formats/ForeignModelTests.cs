using static Llama2.Engine.Tests.Formats.ForeignModels;

namespace Llama2.Engine.Tests.Formats;

/// <summary>
/// What the tests of converting and of serving other formats share: a random .bin per shape (the original), its
/// weights written as a Hugging Face folder, a GGUF file, or a .bin of the weights as a format rounds them, all in one
/// temporary folder; and the logits of a run of tokens.
/// </summary>
public abstract class ForeignModelTests : IDisposable
{
    protected readonly TempDirectory Dir = new();

    public void Dispose() => Dir.Dispose();

    protected static readonly int[] Tokens = [1, 37, 250, 4, 99, 298, 3];

    /// <summary>
    /// The logits of every position of <see cref="Tokens"/>, one token after the other; <paramref name="withPrompt"/>
    /// adds those of the tokens fed as one prompt (the batched kernels).
    /// </summary>
    protected static float[] Logits(Checkpoint checkpoint, bool withPrompt = false)
    {
        var transformer = new Transformer(checkpoint);
        var state = transformer.CreateState();
        var all = new List<float>();
        for (int pos = 0; pos < Tokens.Length; pos++) all.AddRange(transformer.Forward(Tokens[pos], pos, state).ToArray());
        if (withPrompt) all.AddRange(transformer.Prefill(Tokens, 0, transformer.CreateState()).ToArray());
        return [.. all];
    }

    /// <summary><see cref="Logits(Checkpoint, bool)"/> of the model at <paramref name="path"/>.</summary>
    protected static float[] Logits(string path, bool withPrompt = false)
    {
        using var checkpoint = Checkpoint.Open(path);
        return Logits(checkpoint, withPrompt);
    }

    protected string Original(bool shared = false, int kvHeads = 2, int seed = 11)
    {
        var path = Dir.File($"original-{shared}-{kvHeads}-{seed}.bin");
        if (!File.Exists(path)) CheckpointWriter.WriteRandom(path, TestModels.Small(shared, kvHeads), version: 1, seed: seed);
        return path;
    }

    protected string HuggingFace(string originalBin, HuggingFaceOptions options)
    {
        using var bin = Checkpoint.Open(originalBin);
        return WriteHuggingFace(bin, Dir.File($"hf-{Guid.NewGuid():N}"), options);
    }

    protected string Gguf(string originalBin, GgufOptions options)
    {
        using var bin = Checkpoint.Open(originalBin);
        return WriteGguf(bin, Dir.File($"model-{Guid.NewGuid():N}.gguf"), options);
    }

    protected string Rounded(string originalBin, Storage storage, bool normsStayF32)
    {
        using var bin = Checkpoint.Open(originalBin);
        var path = Dir.File($"rounded-{Guid.NewGuid():N}.bin");
        WriteRounded(bin, path, storage, normsStayF32);
        return path;
    }
}

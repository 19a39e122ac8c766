namespace Llama2.Engine.Tests.TestData;

/// <summary>
/// The small random model of <see cref="TestModels.WriteSmallModel"/> (byte-level tokenizer), written to a temporary
/// folder and loaded; disposing unloads it and deletes the folder.
/// </summary>
public sealed class SmallModel : IDisposable
{
    readonly TempDirectory _dir = new();

    public SmallModel()
    {
        var (checkpoint, tokenizer) = TestModels.WriteSmallModel(_dir);
        Model = LlamaModel.Load(checkpoint, tokenizer);
    }

    public LlamaModel Model { get; }

    public void Dispose()
    {
        Model.Dispose();
        _dir.Dispose();
    }
}

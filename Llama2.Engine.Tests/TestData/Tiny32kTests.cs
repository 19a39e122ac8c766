namespace Llama2.Engine.Tests.TestData;

/// <summary>Base of test classes that run tiny32k (from ../shared) with its 32000-token tokenizer, loaded for each test.</summary>
public abstract class Tiny32kTests : IDisposable
{
    protected LlamaModel Model { get; } = LlamaModel.Load(SharedData.Tiny32k, SharedData.Tokenizer32k);

    public void Dispose()
    {
        Model.Dispose();
        GC.SuppressFinalize(this);
    }
}

namespace Llama2.Server.Tests.TestData;

/// <summary>Loads the real files, but only once the test lets it: the server stays "loading" until then.</summary>
public sealed class GatedLoader : IModelLoader
{
    public ManualResetEventSlim Release { get; } = new();

    public LlamaModel Load(ModelOptions options)
    {
        Release.Wait(TimeSpan.FromSeconds(30));
        return new FileModelLoader().Load(options);
    }
}

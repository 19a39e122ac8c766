using Llama2.Engine;

namespace Llama2.Server.Model;

/// <summary>Loads the model named in the options. A seam so tests can control when loading finishes.</summary>
public interface IModelLoader
{
    LlamaModel Load(ModelOptions options);
}

/// <summary>Loads the checkpoint and tokenizer files (relative paths from the working directory).</summary>
public sealed class FileModelLoader : IModelLoader
{
    public LlamaModel Load(ModelOptions options) =>
        LlamaModel.Load(Path.GetFullPath(options.CheckpointPath), Path.GetFullPath(options.TokenizerPath));
}

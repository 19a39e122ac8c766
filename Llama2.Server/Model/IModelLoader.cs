using Llama2.Engine;

namespace Llama2.Server.Model;

/// <summary>Loads the model named in the options. A seam so tests can control when loading finishes.</summary>
public interface IModelLoader
{
    LlamaModel Load(ModelOptions options);
}

/// <summary>
/// Loads the checkpoint (a .bin, a .gguf or a Hugging Face folder) and the tokenizer (relative paths from the working
/// directory; no tokenizer: the vocabulary stored with a GGUF or Hugging Face model), quantizing float weights at load
/// when Model:Quantization says so, with a log line per quarter done.
/// </summary>
public sealed class FileModelLoader(ILogger<FileModelLoader>? logger = null) : IModelLoader
{
    readonly ILogger _logger = logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger<FileModelLoader>.Instance;

    public LlamaModel Load(ModelOptions options)
    {
        string checkpoint = Path.GetFullPath(options.CheckpointPath);
        int quarters = -1;
        var progress = new InlineProgress(fraction =>
        {
            if ((int)(fraction * 4) <= quarters) return;
            quarters = (int)(fraction * 4);
            _logger.LogInformation("Quantizing {Checkpoint} to q8_0 at load: {Percent:0}%", checkpoint, quarters * 25);
        });
        return LlamaModel.Load(checkpoint, options.TokenizerPath.Length > 0 ? Path.GetFullPath(options.TokenizerPath) : null,
            options.QuantizationValue ?? Llama2.Engine.Quantization.None, progress);
    }

    /// <summary>Reports on the caller's thread (Progress&lt;T&gt; would post to the thread pool, out of order).</summary>
    sealed class InlineProgress(Action<double> report) : IProgress<double>
    {
        public void Report(double value) => report(value);
    }
}

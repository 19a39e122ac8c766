using Llama2.Engine;
using Llama2.Engine.Formats;
using Microsoft.Extensions.Options;

namespace Llama2.Server.Model;

/// <summary>
/// Fills in the model files left empty, before they are validated: no checkpoint and no tokenizer is the shipped
/// <see cref="DefaultModel"/>, served with no download; a checkpoint without a tokenizer takes tokenizer.bin from the
/// checkpoint's folder (where <c>Llama2.Cli download</c> and the first-run download put it), except a GGUF file or a
/// Hugging Face folder, which bring their own vocabulary. A tokenizer without a checkpoint is left for
/// <see cref="ModelFilesValidator"/> to refuse.
/// </summary>
public sealed class DefaultModelPaths : IPostConfigureOptions<ModelOptions>
{
    public const string TokenizerFileName = "tokenizer.bin";

    public void PostConfigure(string? name, ModelOptions options)
    {
        bool checkpoint = !string.IsNullOrWhiteSpace(options.CheckpointPath), tokenizer = !string.IsNullOrWhiteSpace(options.TokenizerPath);
        if (!checkpoint && !tokenizer)
        {
            options.CheckpointPath = DefaultModel.CheckpointPath;
            options.TokenizerPath = DefaultModel.TokenizerPath;
        }
        else if (checkpoint && !tokenizer && !ExternalModel.Recognizes(options.CheckpointPath))
            options.TokenizerPath = Path.Combine(Path.GetDirectoryName(options.CheckpointPath) ?? "", TokenizerFileName);
    }
}

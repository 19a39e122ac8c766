using Microsoft.Extensions.Options;

namespace Llama2.Server.Model;

/// <summary>
/// Fails start-up when a configured model file does not exist, naming the file. Whether its contents are valid is
/// found out when the model loads (see <see cref="ModelHost"/>).
/// </summary>
public sealed class ModelFilesValidator : IValidateOptions<ModelOptions>
{
    public ValidateOptionsResult Validate(string? name, ModelOptions options)
    {
        var failures = new List<string>();
        if (options.CheckpointPath.Length > 0 && !File.Exists(options.CheckpointPath))
            failures.Add($"Model:CheckpointPath: file not found: {Path.GetFullPath(options.CheckpointPath)}");
        if (options.TokenizerPath.Length > 0 && !File.Exists(options.TokenizerPath))
            failures.Add($"Model:TokenizerPath: file not found: {Path.GetFullPath(options.TokenizerPath)}");
        if (options.DefaultMaxNewTokens > options.MaxNewTokens)
            failures.Add($"Model:DefaultMaxNewTokens ({options.DefaultMaxNewTokens}) is above Model:MaxNewTokens ({options.MaxNewTokens})");
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

using Microsoft.Extensions.Options;

namespace Llama2.Server.Model;

/// <summary>
/// Fails start-up when a configured model file does not exist and no download is configured for it, naming the file
/// (after <see cref="DefaultModelPaths"/> has filled in the paths left empty), or when a model setting is out of its
/// values. Whether the files' contents are valid is found out when the model loads (see <see cref="ModelHost"/>).
/// </summary>
public sealed class ModelFilesValidator : IValidateOptions<ModelOptions>
{
    public ValidateOptionsResult Validate(string? name, ModelOptions options)
    {
        var failures = new List<string>();
        var download = options.Download;
        if (string.IsNullOrWhiteSpace(options.CheckpointPath))
            failures.Add("Model:CheckpointPath is empty but Model:TokenizerPath is set: name the checkpoint that tokenizer belongs to " +
                "(or neither, to serve the shipped default model)");
        if (options.CheckpointPath.Length > 0 && !File.Exists(options.CheckpointPath) && !Directory.Exists(options.CheckpointPath)
            && download.CheckpointSourceFor(options.CheckpointPath) is null)
            failures.Add($"Model:CheckpointPath: file not found: {Path.GetFullPath(options.CheckpointPath)} " +
                "(no Model:Download:CheckpointUrl ending in that file name to fetch it from)");
        if (options.TokenizerPath.Length > 0 && !File.Exists(options.TokenizerPath) && download.TokenizerSourceFor(options.TokenizerPath) is null)
            failures.Add($"Model:TokenizerPath: file not found: {Path.GetFullPath(options.TokenizerPath)} " +
                "(no Model:Download:TokenizerUrl ending in that file name to fetch it from)");
        foreach (var (setting, url) in new[] { ("CheckpointUrl", download.CheckpointUrl), ("TokenizerUrl", download.TokenizerUrl) })
            if (url.Length > 0 && !(Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"))
                failures.Add($"Model:Download:{setting}: '{url}' is not an http(s) URL");
        if (options.QuantizationValue is null)
            failures.Add($"Model:Quantization must be none or q8_0, not '{options.Quantization}'");
        if (options.DefaultMaxNewTokens > options.MaxNewTokens)
            failures.Add($"Model:DefaultMaxNewTokens ({options.DefaultMaxNewTokens}) is above Model:MaxNewTokens ({options.MaxNewTokens})");
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

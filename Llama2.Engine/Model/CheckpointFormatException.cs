namespace Llama2.Engine.Model;

/// <summary>A checkpoint or tokenizer file that cannot be used, with the file's path in the message.</summary>
public sealed class CheckpointFormatException(string path, string problem)
    : Exception($"{path}: {problem}")
{
    public string FilePath { get; } = path;
    public string Problem { get; } = problem;
}

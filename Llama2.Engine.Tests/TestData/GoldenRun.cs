using System.Text.Json.Serialization;

namespace Llama2.Engine.Tests.TestData;

/// <summary>
/// What every case of a golden file holds: a named run of one of llama2.c's programs on a model and tokenizer of
/// ../shared/models.
/// </summary>
public abstract record GoldenRun
{
    [JsonPropertyName("name")] public required string Name { get; init; }
    [JsonPropertyName("model")] public required string Model { get; init; }
    [JsonPropertyName("tokenizer")] public required string Tokenizer { get; init; }
    [JsonPropertyName("temperature")] public float Temperature { get; init; }
    [JsonPropertyName("steps")] public int Steps { get; init; }

    public string ModelPath => SharedData.Require("models/" + Model);
    public string TokenizerPath => SharedData.Require("models/" + Tokenizer);

    public sealed override string ToString() => Name;
}

using System.Text.Json;
using Llama2.Engine.Model;

namespace Llama2.Engine.Formats.HuggingFace;

/// <summary>The JSON files of a Hugging Face folder (config.json, the shard index), read whole.</summary>
static class JsonFile
{
    /// <summary>The file's JSON object; a file that is not one is a <see cref="CheckpointFormatException"/> naming it.</summary>
    public static JsonDocument ReadObject(string path)
    {
        JsonDocument json;
        try
        {
            json = JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException(path, $"not valid JSON: {e.Message}");
        }
        if (json.RootElement.ValueKind == JsonValueKind.Object) return json;
        json.Dispose();
        throw new CheckpointFormatException(path, "not a JSON object");
    }
}

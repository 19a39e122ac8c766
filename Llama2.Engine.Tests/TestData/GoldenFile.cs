namespace Llama2.Engine.Tests.TestData;

/// <summary>
/// A JSON file of ../shared/golden (<c>{"cases": [...], ...}</c>), read on first use: its cases by name, and any other
/// top-level property.
/// </summary>
public sealed class GoldenFile<TCase> where TCase : GoldenRun
{
    readonly Lazy<JsonElement> _root;
    readonly Lazy<TCase[]> _cases;

    public GoldenFile(string fileName)
    {
        _root = new(() => JsonDocument.Parse(File.ReadAllText(SharedData.Require("golden/" + fileName))).RootElement);
        _cases = new(() => Read<TCase[]>("cases"));
    }

    public TCase Get(string name) => _cases.Value.Single(c => c.Name == name);

    /// <summary>The names of the cases in the file, in its order.</summary>
    public IEnumerable<string> Names => _cases.Value.Select(c => c.Name);

    /// <summary>The top-level property <paramref name="name"/>.</summary>
    public T Read<T>(string name) => _root.Value.GetProperty(name).Deserialize<T>()!;
}

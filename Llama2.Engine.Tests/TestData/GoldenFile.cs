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

    /// <summary>Fails unless the file's cases are exactly <paramref name="listed"/> (the names the tests run, listed for [MemberData]).</summary>
    public void AssertHoldsExactly(TheoryData<string> listed) =>
        Assert.Equal(_cases.Value.Select(c => c.Name).Order(), listed.Select(row => (string)row.Data).Order());

    /// <summary>The top-level property <paramref name="name"/>.</summary>
    public T Read<T>(string name) => _root.Value.GetProperty(name).Deserialize<T>()!;
}

using System.Globalization;

namespace Llama2.Server.Tests.TestData;

/// <summary>
/// One scrape of GET /metrics, parsed from the Prometheus text format: every sample by metric name and labels
/// (label order does not matter). Absent series read as 0, so that tests can compare two scrapes.
/// </summary>
public sealed class PrometheusText
{
    readonly Dictionary<string, double> _samples = new(StringComparer.Ordinal);

    public PrometheusText(string text)
    {
        Text = text;
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.Length == 0 || line[0] == '#') continue;
            int space = line.LastIndexOf(' ');
            var series = line[..space];
            var value = line[(space + 1)..] switch
            {
                "+Inf" => double.PositiveInfinity,
                "-Inf" => double.NegativeInfinity,
                var v => double.Parse(v, NumberStyles.Float, CultureInfo.InvariantCulture),
            };
            int brace = series.IndexOf('{');
            var labels = brace < 0 ? [] : ParseLabels(series[(brace + 1)..^1]);
            Assert.True(_samples.TryAdd(Key(brace < 0 ? series : series[..brace], labels), value), $"duplicate series: {series}");
        }
    }

    public string Text { get; }

    /// <summary>The sample's value, or 0 when the series is not there.</summary>
    public double this[string name, params (string Name, string Value)[] labels] =>
        _samples.GetValueOrDefault(Key(name, labels));

    /// <summary>Whether the series is there.</summary>
    public bool Has(string name, params (string Name, string Value)[] labels) => _samples.ContainsKey(Key(name, labels));

    /// <summary>This scrape's value minus <paramref name="before"/>'s.</summary>
    public double Delta(PrometheusText before, string name, params (string Name, string Value)[] labels) =>
        this[name, labels] - before[name, labels];

    static string Key(string name, IEnumerable<(string Name, string Value)> labels) =>
        name + "{" + string.Join(",", labels.OrderBy(l => l.Name, StringComparer.Ordinal).Select(l => $"{l.Name}={l.Value}")) + "}";

    static List<(string, string)> ParseLabels(string text)
    {
        var labels = new List<(string, string)>();
        int i = 0;
        while (i < text.Length)
        {
            int eq = text.IndexOf('=', i);
            var name = text[i..eq];
            Assert.Equal('"', text[eq + 1]);
            var value = new System.Text.StringBuilder();
            int j = eq + 2;
            for (; text[j] != '"'; j++)
            {
                if (text[j] == '\\')
                {
                    j++;
                    value.Append(text[j] == 'n' ? '\n' : text[j]);
                }
                else value.Append(text[j]);
            }
            labels.Add((name, value.ToString()));
            i = j + 1;
            if (i < text.Length && text[i] == ',') i++;
        }
        return labels;
    }
}

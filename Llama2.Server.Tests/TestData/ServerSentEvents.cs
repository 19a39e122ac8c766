namespace Llama2.Server.Tests.TestData;

/// <summary>Reads a text/event-stream response event by event (comment lines skipped).</summary>
public static class ServerSentEvents
{
    public static async IAsyncEnumerable<JsonElement> ReadEventsAsync(this HttpResponseMessage response)
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken));
        var data = new List<string>();
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.Length == 0)
            {
                if (data.Count > 0) yield return JsonDocument.Parse(string.Join("\n", data)).RootElement.Clone();
                data.Clear();
            }
            else if (line.StartsWith("data:", StringComparison.Ordinal)) data.Add(line[5..].TrimStart());
            else Assert.StartsWith(":", line); // only data fields and comments are sent
        }
        Assert.Empty(data); // every event is terminated by a blank line
    }

    public static async Task<List<JsonElement>> ReadAllEventsAsync(this HttpResponseMessage response)
    {
        var events = new List<JsonElement>();
        await foreach (var e in response.ReadEventsAsync()) events.Add(e);
        return events;
    }
}

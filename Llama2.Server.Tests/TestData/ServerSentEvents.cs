namespace Llama2.Server.Tests.TestData;

/// <summary>Reads a text/event-stream response event by event (comment lines skipped).</summary>
public static class ServerSentEvents
{
    /// <summary>Each event's data (its data lines joined), as sent.</summary>
    public static async IAsyncEnumerable<string> ReadDataAsync(this HttpResponseMessage response)
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken));
        var data = new List<string>();
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.Length == 0)
            {
                if (data.Count > 0) yield return string.Join("\n", data);
                data.Clear();
            }
            else if (line.StartsWith("data:", StringComparison.Ordinal)) data.Add(line[5..].TrimStart());
            else Assert.StartsWith(":", line); // only data fields and comments are sent
        }
        Assert.Empty(data); // every event is terminated by a blank line
    }

    /// <summary>Each event's data as JSON.</summary>
    public static async IAsyncEnumerable<JsonElement> ReadEventsAsync(this HttpResponseMessage response)
    {
        await foreach (var data in response.ReadDataAsync()) yield return JsonDocument.Parse(data).RootElement.Clone();
    }

    public static async Task<List<JsonElement>> ReadAllEventsAsync(this HttpResponseMessage response)
    {
        var events = new List<JsonElement>();
        await foreach (var e in response.ReadEventsAsync()) events.Add(e);
        return events;
    }

    /// <summary>
    /// An OpenAI stream: every event's JSON, after checking that the last event, and only it, is <c>[DONE]</c>.
    /// </summary>
    public static async Task<List<JsonElement>> ReadOpenAIStreamAsync(this HttpResponseMessage response)
    {
        var data = new List<string>();
        await foreach (var item in response.ReadDataAsync()) data.Add(item);
        Assert.Equal("[DONE]", data[^1]);
        Assert.DoesNotContain("[DONE]", data.SkipLast(1));
        return [.. data.SkipLast(1).Select(d => JsonDocument.Parse(d).RootElement.Clone())];
    }
}

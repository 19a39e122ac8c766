using System.Globalization;
using Microsoft.Playwright;

namespace Llama2.Server.Tests.Browser;

/// <summary>
/// The playground in a real browser (see <see cref="PlaygroundSession"/>): the Complete tab (TGI's /generate_stream) and
/// the Chat tab (OpenAI's /v1/chat/completions). Screenshots go to TestResults/playground/.
/// </summary>
public sealed class PlaygroundBrowserTests
{
    static string ScreenshotFolder => Directory.CreateDirectory(
        Path.Combine(SharedData.RepositoryRoot, "TestResults", "playground")).FullName;

    static async Task<JsonElement> InfoAsync(LoopbackServer server)
    {
        using var response = await server.Client.GetAsync("/info", TestToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.ReadJsonAsync();
    }

    static async Task<PrometheusText> MetricsAsync(LoopbackServer server) =>
        new(await server.Client.GetStringAsync("/metrics", TestToken));

    /// <summary>Records every change of an element's text, with its time and the text's length, in the page (window.samples).</summary>
    static Task RecordChangesAsync(IPage page, string elementId) => page.EvaluateAsync("""
        id => {
          const target = document.getElementById(id);
          window.samples = [];
          new MutationObserver(() => window.samples.push({ t: performance.now(), n: target.textContent.length }))
            .observe(target, { childList: true, characterData: true, subtree: true });
        }
        """, elementId);

    [Fact(Timeout = 180_000)]
    public async Task The_page_streams_tokens_shows_the_rate_and_stop_frees_the_sequence()
    {
        await using var session = await PlaygroundSession.OpenAsync(1280, 800);
        var (page, link, server) = (session.Page, session.Link, session.Server);

        // The max new tokens default was brought down to the room left in tiny32k's 128-token context.
        Assert.Equal("123", await page.Locator("#max_new_tokens").InputValueAsync());

        // 1. Generate: record every change of the output with its time, in the page itself.
        await RecordChangesAsync(page, "generated");
        link.DelayPerWrite = TimeSpan.FromMilliseconds(10);
        await page.Locator("#prompt").FillAsync("Once upon a time");
        await page.Locator("#max_new_tokens").FillAsync("60");
        await page.Locator("#seed").FillAsync("42");
        await page.Locator("#generate").ClickAsync();
        await Assertions.Expect(page.Locator("body")).ToHaveAttributeAsync("data-state", "done");

        var samples = (await page.EvaluateAsync<double[][]>("() => window.samples.map(s => [s.t, s.n])"))
            .Select(s => new Sample(s[0], (int)s[1])).ToList();
        var growth = samples.Zip(samples.Skip(1), (a, b) => (a, b)).Where(p => p.b.N > p.a.N).Select(p => p.b).Prepend(samples[0]).ToList();
        var moments = growth.Select(s => Math.Round(s.T)).Distinct().Count();
        Assert.True(moments >= 3, $"the output grew at {moments} distinct moments only: " +
            string.Join(", ", samples.Select(s => $"{s.N}@{s.T:0}")));
        Assert.True(growth[^1].T - growth[0].T > 100, "the output did not grow over time"); // ≥ 60 writes of 10 ms

        // What the page shows is exactly what the server generates for the same request.
        var text = await page.Locator("#generated").TextContentAsync();
        Assert.Equal("Once upon a time", await page.Locator("#echo").TextContentAsync());
        using (var same = await server.Client.PostJsonAsync("/generate",
            """{"inputs": "Once upon a time", "parameters": {"max_new_tokens": 60, "temperature": 0.8, "top_p": 0.9, "seed": 42, "details": true}}"""))
        {
            var body = await same.ReadJsonAsync();
            Assert.Equal(body.GetProperty("generated_text").GetString(), text);
            Assert.Equal(body.GetProperty("details").GetProperty("generated_tokens").GetInt32().ToString(CultureInfo.InvariantCulture),
                await page.Locator("#stat-tokens").TextContentAsync());
        }
        Assert.Equal(samples[^1].N, text!.Length);
        var rate = double.Parse((await page.Locator("#stat-tps").TextContentAsync())!, CultureInfo.InvariantCulture);
        Assert.True(rate > 0, $"tok/s {rate}");
        Assert.EndsWith(" ms", await page.Locator("#stat-ttft").TextContentAsync());
        Assert.Contains(await page.Locator("#stat-finish").TextContentAsync(), new[] { "length", "eos token" });
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ScreenshotFolder, "desktop-1280x800.png") });

        // 2. A long generation, stopped mid-way: the server frees the sequence.
        link.DelayPerWrite = TimeSpan.FromMilliseconds(60); // ~7 s for the whole room
        await page.Locator("#max_new_tokens").FillAsync("123");
        await page.Locator("#seed").FillAsync("");
        var before = await MetricsAsync(server);
        await page.Locator("#generate").ClickAsync();
        await page.WaitForFunctionAsync("() => Number(document.getElementById('stat-tokens').textContent) >= 3");
        Assert.Equal(1, (await InfoAsync(server)).GetProperty("active_sequences").GetInt32());
        await page.Locator("#stop-button").ClickAsync();
        await Assertions.Expect(page.Locator("body")).ToHaveAttributeAsync("data-state", "stopped");
        await Assertions.Expect(page.Locator("#stat-finish")).ToHaveTextAsync("stopped");
        await Assertions.Expect(page.Locator("#generate")).ToBeEnabledAsync();
        await Assertions.Expect(page.Locator("#stop-button")).ToBeDisabledAsync();

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((await InfoAsync(server)).GetProperty("active_sequences").GetInt32() != 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "a sequence is still active 10 s after Stop");
            await Task.Delay(20, TestToken);
        }
        var after = await MetricsAsync(server);
        Assert.Equal(0, after["llama2_active_sequences"]);
        Assert.Equal(1, after.Delta(before, "llama2_generations_total", ("endpoint", "generate_stream"), ("finish_reason", "cancelled")));
        var shown = int.Parse((await page.Locator("#stat-tokens").TextContentAsync())!, CultureInfo.InvariantCulture);
        Assert.InRange(shown, 3, 122); // stopped before the end
        Assert.InRange(after.Delta(before, "llama2_generated_tokens_total"), shown, 122);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ScreenshotFolder, "desktop-stopped.png") });
    }

    [Fact(Timeout = 180_000)]
    public async Task On_a_server_that_shifts_by_default_the_limits_are_max_new_tokens_not_the_room_in_the_context()
    {
        await using var session = await PlaygroundSession.OpenAsync(1280, 800, contextShift: true);
        var page = session.Page;
        int maxNewTokens = (await InfoAsync(session.Server)).GetProperty("max_new_tokens").GetInt32();

        // The default 256 stays (tiny32k's context is 128), and generating it crosses the context.
        Assert.Equal("256", await page.Locator("#max_new_tokens").InputValueAsync());
        Assert.Equal(maxNewTokens.ToString(CultureInfo.InvariantCulture), await page.Locator("#max_new_tokens").GetAttributeAsync("max"));
        await page.Locator("#temperature").FillAsync("0");
        await page.Locator("#generate").ClickAsync();
        await Assertions.Expect(page.Locator("body")).ToHaveAttributeAsync("data-state", "done", new() { Timeout = 120_000 });
        await Assertions.Expect(page.Locator("#stat-tokens")).ToHaveTextAsync("256");
        await Assertions.Expect(page.Locator("#stat-finish")).ToContainTextAsync("length");

        await page.Locator("#tab-chat").ClickAsync();
        Assert.Equal(maxNewTokens.ToString(CultureInfo.InvariantCulture), await page.Locator("#chat-max-tokens").GetAttributeAsync("max"));
    }

    [Fact(Timeout = 180_000)]
    public async Task Errors_read_as_sentences_and_the_page_fits_a_phone()
    {
        await using var session = await PlaygroundSession.OpenAsync(390, 844);
        var page = session.Page;

        // Nothing wider than the screen.
        Assert.True(await page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= window.innerWidth"),
            "the page scrolls sideways at 390 px");

        // A 422 from the server (more stop sequences than allowed), through the keyboard shortcut.
        await page.Locator("#stop").FillAsync("a\nb\nc\nd\ne");
        await page.Locator("#prompt").PressAsync("Control+Enter");
        await Assertions.Expect(page.Locator("body")).ToHaveAttributeAsync("data-state", "error");
        await Assertions.Expect(page.Locator("#error")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#error")).ToHaveTextAsync("Invalid request: `stop` supports up to 4 stop sequences. Given: 5");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ScreenshotFolder, "phone-error.png"), FullPage = true });

        // The error goes away with the next good request; the whole page, generated, at phone width.
        await page.Locator("#stop").FillAsync("");
        await page.Locator("#max_new_tokens").FillAsync("80");
        await page.Locator("#prompt").PressAsync("Control+Enter");
        await Assertions.Expect(page.Locator("body")).ToHaveAttributeAsync("data-state", "done");
        await Assertions.Expect(page.Locator("#error")).ToBeHiddenAsync();
        Assert.NotEmpty((await page.Locator("#generated").TextContentAsync())!);
        Assert.True(await page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= window.innerWidth"),
            "the generated text makes the page scroll sideways at 390 px");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ScreenshotFolder, "phone-390x844.png"), FullPage = true });

        // Past the room left in the context: the browser's own validation says so, and nothing is sent.
        var requests = 0;
        page.Request += (_, request) => { if (request.Url.EndsWith("/generate_stream", StringComparison.Ordinal)) requests++; };
        await page.Locator("#max_new_tokens").FillAsync("500");
        await page.Locator("#generate").ClickAsync();
        Assert.False(await page.Locator("#max_new_tokens").EvaluateAsync<bool>("e => e.validity.valid"));
        Assert.Equal("done", await page.Locator("body").GetAttributeAsync("data-state"));
        Assert.Equal(0, requests);

        // The chat tab at phone width: a message too long for the context is refused in a sentence, and given back.
        await page.Locator("#tab-chat").ClickAsync();
        string longMessage = string.Join(" ", Enumerable.Range(0, 150).Select(i => "word" + i));
        await page.Locator("#chat-input").FillAsync(longMessage);
        await page.Locator("#send").ClickAsync();
        await Assertions.Expect(page.Locator("#chat")).ToHaveAttributeAsync("data-state", "error");
        await Assertions.Expect(page.Locator("#chat-error")).ToContainTextAsync("Invalid request: `messages` must have less than 128 tokens");
        await Assertions.Expect(page.Locator("#conversation > li")).ToHaveCountAsync(0);
        Assert.Equal(longMessage, await page.Locator("#chat-input").InputValueAsync());

        await page.Locator("#chat-input").FillAsync("Hello there");
        await page.Locator("#chat-max-tokens").FillAsync("40");
        await page.Locator("#send").ClickAsync();
        await Assertions.Expect(page.Locator("#chat")).ToHaveAttributeAsync("data-state", "done");
        await Assertions.Expect(page.Locator("#chat-error")).ToBeHiddenAsync();
        Assert.True(await page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= window.innerWidth"),
            "the chat makes the page scroll sideways at 390 px");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ScreenshotFolder, "chat-phone-390x844.png"), FullPage = true });
    }

    [Fact(Timeout = 180_000)]
    public async Task The_chat_tab_streams_a_conversation_that_grows_stop_frees_the_sequence_and_new_chat_clears_it()
    {
        await using var session = await PlaygroundSession.OpenAsync(1280, 800);
        var (page, link, server) = (session.Page, session.Link, session.Server);
        var requests = new List<JsonElement>(); // the bodies the page sends to /v1/chat/completions
        page.Request += (_, request) =>
        {
            if (request.Url.EndsWith("/v1/chat/completions", StringComparison.Ordinal)) requests.Add(JsonDocument.Parse(request.PostData!).RootElement.Clone());
        };
        var chat = page.Locator("#chat");
        var messages = page.Locator("#conversation > li");

        await page.Locator("#tab-chat").ClickAsync();
        await Assertions.Expect(chat).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#complete")).ToBeHiddenAsync();
        await Assertions.Expect(page.Locator("#tab-chat")).ToHaveAttributeAsync("aria-selected", "true");

        // 1. A system prompt and a message: the reply streams in, piece by piece, and is the server's.
        await RecordChangesAsync(page, "conversation");
        link.DelayPerWrite = TimeSpan.FromMilliseconds(40);
        await page.Locator("#system").FillAsync("You are a storyteller.");
        await page.Locator("#chat-max-tokens").FillAsync("8");
        await page.Locator("#chat-seed").FillAsync("42");
        await page.Locator("#chat-input").FillAsync("Tell me a story.");
        await page.Locator("#chat-input").PressAsync("Enter");
        await Assertions.Expect(chat).ToHaveAttributeAsync("data-state", "done");

        var moments = (await page.EvaluateAsync<double[]>("() => window.samples.map(s => s.t)")).Select(t => Math.Round(t)).Distinct().Count();
        Assert.True(moments >= 4, $"the conversation changed at {moments} moments only");
        await Assertions.Expect(messages).ToHaveCountAsync(2);
        Assert.Equal("Tell me a story.", await messages.Nth(0).Locator(".text").TextContentAsync());
        string reply = (await messages.Nth(1).Locator(".text").TextContentAsync())!;
        const string firstTurn = """[{"role": "system", "content": "You are a storyteller."}, {"role": "user", "content": "Tell me a story."}]""";
        Assert.Equal(await ServerReplyAsync(server, firstTurn), reply);
        Assert.Equal("8", await page.Locator("#chat-stat-tokens").TextContentAsync()); // the usage chunk's count
        Assert.Equal("length", await page.Locator("#chat-stat-finish").TextContentAsync());
        var sent = Assert.Single(requests);
        Assert.True(sent.GetProperty("stream").GetBoolean());
        Assert.True(sent.GetProperty("stream_options").GetProperty("include_usage").GetBoolean());
        Assert.Equal(JsonDocument.Parse(firstTurn).RootElement.GetRawText().Replace(" ", ""), sent.GetProperty("messages").GetRawText().Replace(" ", ""));

        // 2. A second message: the whole conversation goes with it, and grows.
        await page.Locator("#chat-input").FillAsync("And then?");
        await page.Locator("#send").ClickAsync();
        await Assertions.Expect(chat).ToHaveAttributeAsync("data-state", "done");
        await Assertions.Expect(messages).ToHaveCountAsync(4);
        var roles = requests[^1].GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("role").GetString()).ToList();
        Assert.Equal(["system", "user", "assistant", "user"], roles);
        Assert.Equal(reply, requests[^1].GetProperty("messages")[2].GetProperty("content").GetString());
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ScreenshotFolder, "chat-desktop-1280x800.png") });

        // 3. A long reply stopped with Esc: the server frees the sequence; what came stays, marked stopped.
        link.DelayPerWrite = TimeSpan.FromMilliseconds(80);
        await page.Locator("#chat-max-tokens").FillAsync("30");
        await page.Locator("#chat-seed").FillAsync("");
        var before = await MetricsAsync(server);
        await page.Locator("#chat-input").FillAsync("Go on.");
        await page.Locator("#chat-input").PressAsync("Enter");
        await page.WaitForFunctionAsync("() => Number(document.getElementById('chat-stat-tokens').textContent) >= 3");
        Assert.Equal(1, (await InfoAsync(server)).GetProperty("active_sequences").GetInt32());
        await page.Keyboard.PressAsync("Escape");
        await Assertions.Expect(chat).ToHaveAttributeAsync("data-state", "stopped");
        await Assertions.Expect(page.Locator("#chat-stat-finish")).ToHaveTextAsync("stopped");
        await Assertions.Expect(page.Locator("#send")).ToBeEnabledAsync();
        await Assertions.Expect(page.Locator("#chat-stop")).ToBeDisabledAsync();
        await Assertions.Expect(messages).ToHaveCountAsync(6);
        await Assertions.Expect(messages.Nth(5)).ToHaveClassAsync(new System.Text.RegularExpressions.Regex("stopped"));

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((await InfoAsync(server)).GetProperty("active_sequences").GetInt32() != 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "a sequence is still active 10 s after Esc");
            await Task.Delay(20, TestToken);
        }
        var after = await MetricsAsync(server);
        Assert.Equal(1, after.Delta(before, "llama2_generations_total", ("endpoint", "v1/chat/completions"), ("finish_reason", "cancelled")));
        Assert.InRange(after.Delta(before, "llama2_generated_tokens_total"), 3, 29); // stopped before the end

        // 4. New chat clears the conversation; the next message starts a new one (with the same system prompt).
        await page.Locator("#new-chat").ClickAsync();
        await Assertions.Expect(messages).ToHaveCountAsync(0);
        await Assertions.Expect(page.Locator("#chat-empty")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#chat-stat-tokens")).ToHaveTextAsync("0");
        link.DelayPerWrite = TimeSpan.Zero;
        await page.Locator("#chat-max-tokens").FillAsync("4");
        await page.Locator("#chat-input").FillAsync("Hello");
        await page.Locator("#chat-input").PressAsync("Enter");
        await Assertions.Expect(chat).ToHaveAttributeAsync("data-state", "done");
        await Assertions.Expect(messages).ToHaveCountAsync(2);
        roles = requests[^1].GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("role").GetString()).ToList();
        Assert.Equal(["system", "user"], roles);

        // The Complete tab is still there, as it was.
        await page.Locator("#tab-complete").ClickAsync();
        await Assertions.Expect(page.Locator("#complete")).ToBeVisibleAsync();
        await Assertions.Expect(chat).ToBeHiddenAsync();
        Assert.Equal("Once upon a time", await page.Locator("#prompt").InputValueAsync());
    }

    /// <summary>The server's JSON answer to the chat the page sends (same parameters, not streamed).</summary>
    static async Task<string> ServerReplyAsync(LoopbackServer server, string messages)
    {
        using var response = await server.Client.PostJsonAsync("/v1/chat/completions",
            $$"""{"messages": {{messages}}, "max_tokens": 8, "temperature": 0.8, "top_p": 0.9, "seed": 42}""");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.ReadJsonAsync()).GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;
    }

    sealed record Sample(double T, int N);
}

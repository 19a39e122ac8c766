using Microsoft.AspNetCore.Hosting;
using Microsoft.Playwright;

namespace Llama2.Server.Tests.Browser;

/// <summary>
/// The playground page in a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright; no browser is
/// ever downloaded) against the real server on Kestrel on a loopback port: tiny32k with one-token buffers behind a
/// <see cref="SlowLink"/>, so the pace of a stream is the link's and a test can watch it and stop it mid-way however
/// fast the model is. Opening checks that the page loaded without errors and filled in its model and token lines.
/// </summary>
public sealed class PlaygroundSession(LoopbackServer server, SlowLink link, IPlaywright playwright, IBrowser browser, IPage page)
    : IAsyncDisposable
{
    const string ChromiumPath = "/usr/bin/chromium";

    static readonly string[] ChromiumArgs =
    [
        "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync", "--disable-quic", "--disable-dev-shm-usage",
    ];

    public LoopbackServer Server { get; } = server;

    /// <summary>Set its delay to pace the stream the page reads.</summary>
    public SlowLink Link { get; } = link;

    public IPage Page { get; } = page;

    /// <summary>
    /// Starts the server (shifting past the context by default when <paramref name="contextShift"/>) and the browser,
    /// and opens the page at <paramref name="width"/> × <paramref name="height"/>.
    /// </summary>
    public static async Task<PlaygroundSession> OpenAsync(int width, int height, bool contextShift = false)
    {
        RequireChromium();
        Assertions.SetDefaultExpectTimeout(30_000);
        var link = new SlowLink();
        var server = await LoopbackServer.StartAsync(
            ServerFactory.Tiny32kSettings(("Model:TokenBufferSize", "1"), ("Model:ContextShift", contextShift ? "true" : "false")),
            services => services.AddSingleton<IStartupFilter>(link));
        IPlaywright? playwright = null;
        IBrowser? browser = null;
        try
        {
            playwright = await Playwright.CreateAsync();
            browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = ChromiumPath,
                Headless = true,
                Args = ChromiumArgs,
                Timeout = 60_000,
            });
            var page = await OpenPageAsync(browser, server, width, height, contextShift);
            return new PlaygroundSession(server, link, playwright, browser, page);
        }
        catch
        {
            if (browser is not null) await browser.DisposeAsync();
            playwright?.Dispose();
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Chromium, or a skip (a failure under CI) saying how to get it.</summary>
    static void RequireChromium()
    {
        if (File.Exists(ChromiumPath)) return;
        var reason = $"{ChromiumPath} not found: install Debian's chromium (apt-get install -y chromium) to run the browser tests";
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("CI"))) Assert.Fail(reason);
        Assert.Skip(reason);
    }

    static async Task<IPage> OpenPageAsync(IBrowser browser, LoopbackServer server, int width, int height, bool contextShift)
    {
        var page = await browser.NewPageAsync(new BrowserNewPageOptions
        {
            ViewportSize = new ViewportSize { Width = width, Height = height },
            BaseURL = server.Address.ToString(),
        });
        page.SetDefaultTimeout(30_000);
        var errors = new List<string>();
        page.PageError += (_, error) => errors.Add(error);
        page.Console += (_, message) => { if (message.Type == "error") errors.Add(message.Text); };
        var response = await page.GotoAsync("/");
        Assert.Equal(200, response!.Status);
        // The model line fills in from /info, and the prompt's token count from /tokenize.
        await Assertions.Expect(page.Locator("#model")).ToContainTextAsync("tiny32k · 3.1M parameters · dim 48, 2 layers, 6 heads (2 kv) · vocab 32000 · context 128 · fp32 · llama2.c v0");
        await Assertions.Expect(page.Locator("#prompt-tokens")).ToHaveTextAsync(
            "5 tokens · room for 123 more" + (contextShift ? " before the context shifts" : ""));
        Assert.Empty(errors);
        return page;
    }

    public async ValueTask DisposeAsync()
    {
        await browser.DisposeAsync();
        playwright.Dispose();
        await Server.DisposeAsync();
    }
}

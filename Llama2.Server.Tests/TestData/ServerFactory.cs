using System.Net.Http.Json;
using Llama2.Engine.Scheduling;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Configuration;

namespace Llama2.Server.Tests.TestData;

/// <summary>
/// Hosts the real server in memory on a model from ../shared. Settings override appsettings.json the way
/// environment variables would (keys like "Model:MaxQueueLength").
/// </summary>
public class ServerFactory(IReadOnlyDictionary<string, string?> settings, Action<IServiceCollection>? services = null)
    : WebApplicationFactory<Program>
{
    /// <summary>The settings of tiny32k with the 32000-token tokenizer, plus <paramref name="extra"/> settings.</summary>
    public static Dictionary<string, string?> Tiny32kSettings(params (string Key, string? Value)[] extra) =>
        new(extra.Select(e => KeyValuePair.Create(e.Key, e.Value)))
        {
            ["Model:CheckpointPath"] = SharedData.Tiny32k,
            ["Model:TokenizerPath"] = SharedData.Tokenizer32k,
        };

    /// <summary>tiny32k with the 32000-token tokenizer, plus <paramref name="extra"/> settings.</summary>
    public static ServerFactory Tiny32k(params (string Key, string? Value)[] extra) => new(Tiny32kSettings(extra));

    /// <summary>tiny32k, loaded by <paramref name="loader"/> (e.g. a <see cref="GatedLoader"/> that holds it back).</summary>
    public static ServerFactory Tiny32kLoadedBy(IModelLoader loader) => new(Tiny32kSettings(), services => services.AddSingleton(loader));

    /// <summary>tiny32k with <paramref name="services"/> added (e.g. a test's own generation observer).</summary>
    public static ServerFactory Tiny32kWith(Action<IServiceCollection> services) => new(Tiny32kSettings(), services);

    /// <summary>
    /// tiny32k behind <paramref name="link"/>, with one-token buffers: a stream lasts as long as the link makes it,
    /// so a test can leave it mid-way.
    /// </summary>
    public static ServerFactory Tiny32kBehind(SlowLink link) => new(Tiny32kSettings(("Model:TokenBufferSize", "1")),
        services => services.AddSingleton<IStartupFilter>(link));

    /// <summary>tiny32k with one sequence slot, a queue of one and one-token buffers: easy to fill (see <see cref="HoldTheOnlySlotAsync"/>).</summary>
    public static ServerFactory OneSlot(int retryAfterSeconds) => Tiny32k(("Model:MaxConcurrentSequences", "1"),
        ("Model:MaxQueueLength", "1"), ("Model:TokenBufferSize", "1"), ("Api:RetryAfterSeconds", retryAfterSeconds.ToString()));

    /// <summary>
    /// Takes the only slot of a <see cref="OneSlot"/> server with a sequence nobody reads (it stops one token ahead and
    /// keeps the slot) and waits until it holds it. Cancel the returned source to free the slot.
    /// </summary>
    public async Task<CancellationTokenSource> HoldTheOnlySlotAsync()
    {
        var hold = CancellationTokenSource.CreateLinkedTokenSource(TestToken);
        var request = new GenerationRequest { Prompt = "Once", MaxNewTokens = 50, Sampling = new SamplingOptions { Temperature = 0 } };
        Assert.True(Scheduler.TrySubmit(request, hold.Token, out _));
        await Poll.Until(() => Scheduler.ActiveSequences == 1, "the slot is taken");
        return hold;
    }

    /// <summary>
    /// Fills a <see cref="OneSlot"/> server: holds its only slot (<see cref="HoldTheOnlySlotAsync"/>) and queues
    /// <paramref name="json"/> to <paramref name="path"/> behind it, until the queue holds it. The next request is
    /// refused; cancelling <see cref="FullServer.Hold"/> lets the queued one be served.
    /// </summary>
    public async Task<FullServer> FillAsync(HttpClient client, string path, string json)
    {
        var hold = await HoldTheOnlySlotAsync();
        var queued = client.PostJsonAsync(path, json);
        await Poll.Until(() => Scheduler.QueueDepth == 1, "the request waits in the queue");
        return new FullServer(hold, queued);
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.ConfigureAppConfiguration((_, config) => config.AddInMemoryCollection(new Dictionary<string, string?>(settings)
        {
            ["Serilog:MinimumLevel:Default"] = "Warning",
        }));
        if (services is not null) builder.ConfigureTestServices(services);
    }

    public ModelHost ModelHost => Services.GetRequiredService<ModelHost>();

    /// <summary>The loaded model's scheduler; the test fails if the model is not loaded.</summary>
    public GenerationScheduler Scheduler => Assert.IsType<LoadedModel>(ModelHost.Loaded).Scheduler;

    /// <summary>A client, once /health says the model is loaded (polled, bounded).</summary>
    public async Task<HttpClient> CreateReadyClientAsync()
    {
        var client = CreateClient();
        await WaitUntilReadyAsync(client);
        return client;
    }

    /// <summary>Polls the server's /health (bounded: 30 s) until it says the model is loaded.</summary>
    public static async Task WaitUntilReadyAsync(HttpClient client)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            using var response = await client.GetAsync("/health", TestContext.Current.CancellationToken);
            if (response.IsSuccessStatusCode) return;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"/health still {(int)response.StatusCode} after 30 s: {await response.Content.ReadAsStringAsync()}");
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
    }
}

/// <summary>A full <see cref="ServerFactory.OneSlot"/> server: the hold on its only slot and the request in its queue.</summary>
public sealed record FullServer(CancellationTokenSource Hold, Task<HttpResponseMessage> Queued) : IDisposable
{
    public void Dispose() => Hold.Dispose();
}

/// <summary>Helpers for the JSON the server speaks.</summary>
public static class Json
{
    /// <summary>POSTs JSON; cancelled with the test.</summary>
    public static Task<HttpResponseMessage> PostJsonAsync(this HttpClient client, string path, string json,
        HttpCompletionOption completion = HttpCompletionOption.ResponseContentRead) =>
        client.SendJsonAsync(path, json, completion, TestContext.Current.CancellationToken);

    /// <summary>POSTs JSON; cancelling <paramref name="cancellationToken"/> is the client going away.</summary>
    public static Task<HttpResponseMessage> SendJsonAsync(this HttpClient client, string path, string json,
        HttpCompletionOption completion, CancellationToken cancellationToken)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path)
        {
            Content = new StringContent(json, System.Text.Encoding.UTF8, "application/json"),
        };
        return client.SendAsync(request, completion, cancellationToken);
    }

    public static async Task<System.Text.Json.JsonElement> ReadJsonAsync(this HttpResponseMessage response) =>
        await response.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>(TestContext.Current.CancellationToken);
}

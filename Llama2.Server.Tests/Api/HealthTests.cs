using System.Net;
using Llama2.Engine;
using Llama2.Server.Model;
using Llama2.Server.Tests.TestData;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Llama2.Server.Tests.Api;

/// <summary>Readiness while the model loads, after it loads, and when its files are missing or bad.</summary>
public sealed class HealthTests
{
    static CancellationToken TestToken => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Health_is_503_while_loading_and_200_once_loaded()
    {
        var loader = new GatedLoader();
        await using var factory = ServerFactory.Tiny32kLoadedBy(loader);
        var client = factory.CreateClient();

        using (var loading = await client.GetAsync("/health", TestToken))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, loading.StatusCode);
            Assert.Equal("loading", (await loading.ReadJsonAsync()).GetProperty("status").GetString());
        }
        using (var info = await client.GetAsync("/info", TestToken))
            Assert.Equal(HttpStatusCode.ServiceUnavailable, info.StatusCode);
        using (var generate = await client.PostJsonAsync("/generate", """{"inputs": "x"}"""))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, generate.StatusCode);
            Assert.Equal("unavailable", (await generate.ReadJsonAsync()).GetProperty("error_type").GetString());
        }

        loader.Release.Set();
        await factory.CreateReadyClientAsync();
        using var ready = await client.GetAsync("/health", TestToken);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Equal("ready", (await ready.ReadJsonAsync()).GetProperty("status").GetString());
    }

    /// <summary>
    /// Start-up validation (ValidateOnStart) names the missing file. In-process the host's start races the entry
    /// point, which logs the failure as one line and exits 1, so this checks the validation itself; the smoke
    /// script checks the real process.
    /// </summary>
    [Fact]
    public void A_missing_file_fails_start_up_validation_naming_the_file()
    {
        using var temp = new TempDirectory();
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Model:CheckpointPath"] = temp.File("nowhere.bin"),
            ["Model:TokenizerPath"] = SharedData.Tokenizer32k,
            ["Model:DefaultMaxNewTokens"] = "5000",
        }).Build();
        var services = new ServiceCollection().AddLogging().AddModel(configuration);
        services.AddSingleton<IHostApplicationLifetime>(new NoLifetime());
        using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IStartupValidator>().Validate());
        Assert.Contains("Model:CheckpointPath: file not found: " + temp.File("nowhere.bin"), error.Message);
        Assert.Contains("Model:DefaultMaxNewTokens (5000) is above Model:MaxNewTokens (2048)", error.Message);
    }

    [Fact]
    public void Scheduler_sizes_out_of_range_fail_start_up_validation_naming_the_setting()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Model:CheckpointPath"] = SharedData.Tiny32k,
            ["Model:TokenizerPath"] = SharedData.Tokenizer32k,
            ["Model:MaxQueueLength"] = "0",
            ["Model:PrefillChunkTokens"] = "5000",
        }).Build();
        var services = new ServiceCollection().AddLogging().AddModel(configuration);
        services.AddSingleton<IHostApplicationLifetime>(new NoLifetime());
        using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IStartupValidator>().Validate());
        Assert.Contains("Model:MaxQueueLength must be between 1 and 100000 (it is 0)", error.Message);
        Assert.Contains("Model:PrefillChunkTokens must be between 1 and 4096 (it is 5000)", error.Message);

        // The settings bind to the engine's SchedulerOptions under their README names.
        using var bound = new ServiceCollection().AddLogging().AddModel(new ConfigurationBuilder().AddInMemoryCollection(
            new Dictionary<string, string?> { ["Model:MaxQueueLength"] = "3", ["Model:MaxConcurrentSequences"] = "2" }).Build())
            .BuildServiceProvider();
        var scheduling = bound.GetRequiredService<IOptions<Llama2.Engine.Scheduling.SchedulerOptions>>().Value;
        Assert.Equal(3, scheduling.MaxQueueLength);
        Assert.Equal(2, scheduling.MaxConcurrentSequences);
    }

    sealed class NoLifetime : IHostApplicationLifetime
    {
        public CancellationToken ApplicationStarted => CancellationToken.None;
        public CancellationToken ApplicationStopping => CancellationToken.None;
        public CancellationToken ApplicationStopped => CancellationToken.None;
        public void StopApplication() { }
    }

    [Fact]
    public async Task A_corrupt_checkpoint_fails_the_load_and_stops_the_application()
    {
        using var temp = new TempDirectory();
        var corrupt = temp.File("corrupt.bin");
        await File.WriteAllBytesAsync(corrupt, new byte[100], TestToken);
        var loader = new GatedLoader();
        await using var factory = new ServerFactory(new Dictionary<string, string?>
        {
            ["Model:CheckpointPath"] = corrupt,
            ["Model:TokenizerPath"] = SharedData.Tokenizer32k,
        }, services => services.AddSingleton<IModelLoader>(loader));
        var client = factory.CreateClient();
        var host = factory.Services.GetRequiredService<ModelHost>();
        var stopping = new TaskCompletionSource();
        factory.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.Register(() => stopping.TrySetResult());

        loader.Release.Set();
        await stopping.Task.WaitAsync(TimeSpan.FromSeconds(20), TestToken);
        Assert.Equal(ModelState.Failed, host.State);
    }
}

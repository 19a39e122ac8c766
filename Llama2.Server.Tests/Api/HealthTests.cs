using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Llama2.Server.Tests.Api;

/// <summary>Readiness while the model loads, after it loads, and when its files are missing or bad.</summary>
public sealed class HealthTests
{
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
        var error = Assert.Throws<OptionsValidationException>(() => ValidateAtStartUp(new()
        {
            ["Model:CheckpointPath"] = temp.File("nowhere.bin"),
            ["Model:TokenizerPath"] = SharedData.Tokenizer32k,
            ["Model:DefaultMaxNewTokens"] = "5000",
        }));
        Assert.Contains("Model:CheckpointPath: file not found: " + temp.File("nowhere.bin"), error.Message);
        Assert.Contains("Model:DefaultMaxNewTokens (5000) is above Model:MaxNewTokens (2048)", error.Message);
    }

    [Fact]
    public void Scheduler_sizes_bind_by_their_setting_names_and_out_of_range_fail_start_up_validation()
    {
        var settings = ServerFactory.Tiny32kSettings(("Model:MaxQueueLength", "3"), ("Model:MaxConcurrentSequences", "2"));
        using (var valid = ValidateAtStartUp(settings))
        {
            var scheduling = valid.GetRequiredService<IOptions<Llama2.Engine.Scheduling.SchedulerOptions>>().Value;
            Assert.Equal(3, scheduling.MaxQueueLength);
            Assert.Equal(2, scheduling.MaxConcurrentSequences);
        }

        settings["Model:MaxQueueLength"] = "0";
        settings["Model:PrefillChunkTokens"] = "5000";
        var error = Assert.Throws<OptionsValidationException>(() => ValidateAtStartUp(settings));
        Assert.Contains("Model:MaxQueueLength must be between 1 and 100000 (it is 0)", error.Message);
        Assert.Contains("Model:PrefillChunkTokens must be between 1 and 4096 (it is 5000)", error.Message);
    }

    [Fact]
    public void An_unknown_quantization_fails_start_up_validation()
    {
        var settings = ServerFactory.Tiny32kSettings(("Model:Quantization", "Q8_0"));
        using (ValidateAtStartUp(settings)) { } // either case

        settings["Model:Quantization"] = "q4_0";
        var error = Assert.Throws<OptionsValidationException>(() => ValidateAtStartUp(settings));
        Assert.Contains("Model:Quantization must be none or q8_0, not 'q4_0'", error.Message);
    }

    /// <summary>The model's services on <paramref name="settings"/>, validated as at start-up (throws what fails).</summary>
    static ServiceProvider ValidateAtStartUp(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection().AddLogging().AddModel(configuration);
        services.AddSingleton<IHostApplicationLifetime>(new NoLifetime());
        var provider = services.BuildServiceProvider();
        try
        {
            provider.GetRequiredService<IStartupValidator>().Validate();
            return provider;
        }
        catch
        {
            provider.Dispose();
            throw;
        }
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

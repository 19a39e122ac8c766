using System.Net.Http.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Llama2.Server.Tests.Model;

/// <summary>
/// With no model configured (appsettings.json as shipped) the server serves the model the repository ships, at once and
/// without the network; the stories15M download stays one setting away.
/// </summary>
public sealed class DefaultModelServingTests
{
    /// <summary>Fails any request the model downloader makes, and counts them.</summary>
    sealed class NoNetwork : HttpMessageHandler
    {
        public int Requests;

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Requests);
            throw new HttpRequestException($"no network in this test: {request.RequestUri}");
        }
    }

    [Fact]
    public async Task The_default_configuration_serves_the_shipped_model_with_no_download()
    {
        var network = new NoNetwork();
        await using var factory = new ServerFactory(new Dictionary<string, string?>(), services =>
            services.AddHttpClient(ModelDownloads.HttpClientName).ConfigurePrimaryHttpMessageHandler(() => network));
        var client = await factory.CreateReadyClientAsync();

        var options = factory.Services.GetRequiredService<IOptions<ModelOptions>>().Value;
        Assert.Equal(DefaultModel.CheckpointPath, options.CheckpointPath);
        Assert.Equal(DefaultModel.TokenizerPath, options.TokenizerPath);

        var info = await client.GetFromJsonAsync<JsonElement>("/info", TestToken);
        Assert.Equal("kjv-3.5M", info.GetProperty("model_id").GetString());

        using var generated = await client.PostJsonAsync("/generate",
            """{"inputs": "In the beginning", "parameters": {"max_new_tokens": 16, "seed": 1, "temperature": 0.8}}""");
        Assert.Equal(HttpStatusCode.OK, generated.StatusCode);
        var text = (await generated.ReadJsonAsync()).GetProperty("generated_text").GetString();
        Assert.False(string.IsNullOrWhiteSpace(text));
        Assert.Equal(0, network.Requests);
    }

    [Theory]
    [InlineData("models/stories15M.bin", null, "models/stories15M.bin", "models/tokenizer.bin")]
    [InlineData("/data/my.bin", null, "/data/my.bin", "/data/tokenizer.bin")]
    [InlineData("my.bin", "tok.bin", "my.bin", "tok.bin")]
    public void A_checkpoint_without_a_tokenizer_takes_tokenizer_bin_beside_it(string checkpoint, string? tokenizer,
        string expectedCheckpoint, string expectedTokenizer)
    {
        var options = new ModelOptions { CheckpointPath = checkpoint, TokenizerPath = tokenizer ?? "" };
        new DefaultModelPaths().PostConfigure(null, options);
        Assert.Equal(expectedCheckpoint, options.CheckpointPath);
        Assert.Equal(expectedTokenizer, options.TokenizerPath);
    }

    [Fact]
    public void A_tokenizer_without_a_checkpoint_is_refused_at_start()
    {
        var options = new ModelOptions { TokenizerPath = DefaultModel.TokenizerPath };
        new DefaultModelPaths().PostConfigure(null, options);
        var result = new ModelFilesValidator().Validate(null, options);
        Assert.True(result.Failed);
        Assert.Contains("Model:CheckpointPath is empty but Model:TokenizerPath is set", result.FailureMessage);
    }

    [Fact]
    public async Task Naming_stories15M_alone_downloads_it_and_its_tokenizer_with_the_shipped_download_settings()
    {
        await using var files = await LocalFileServer.StartAsync(await File.ReadAllBytesAsync(SharedData.Tiny32k, TestToken));
        using var temp = new TempDirectory();
        var checkpoint = temp.File("models/stories15M.bin");
        // appsettings.json's download settings fetch exactly these two files from llama2.c's sources.
        var shipped = new ConfigurationBuilder().AddJsonFile(Path.Combine(SharedData.RepositoryRoot, "Llama2.Server", "appsettings.json")).Build()
            .GetSection(ModelOptions.Section).Get<ModelOptions>()!;
        shipped.CheckpointPath = checkpoint;
        new DefaultModelPaths().PostConfigure(null, shipped);
        Assert.Equal(temp.File("models/tokenizer.bin"), shipped.TokenizerPath);
        Assert.Equal("https://huggingface.co/karpathy/tinyllamas/resolve/main/stories15M.bin",
            shipped.Download.CheckpointSourceFor(shipped.CheckpointPath)?.Url.ToString());
        Assert.Equal("https://raw.githubusercontent.com/karpathy/llama2.c/master/tokenizer.bin",
            shipped.Download.TokenizerSourceFor(shipped.TokenizerPath)?.Url.ToString());

        // The same setting with the sources on a loopback server: both files arrive beside each other and are served.
        await using var tokenizers = await LocalFileServer.StartAsync(await File.ReadAllBytesAsync(SharedData.Tokenizer32k, TestToken));
        await using var factory = new ServerFactory(new Dictionary<string, string?>
        {
            ["Model:CheckpointPath"] = checkpoint,
            ["Model:Download:CheckpointUrl"] = files.UrlFor("stories15M.bin").ToString(),
            ["Model:Download:TokenizerUrl"] = tokenizers.UrlFor("tokenizer.bin").ToString(),
        });
        var client = await factory.CreateReadyClientAsync();
        Assert.True(File.Exists(temp.File("models/tokenizer.bin")));
        var info = await client.GetFromJsonAsync<JsonElement>("/info", TestToken);
        Assert.Equal("stories15M", info.GetProperty("model_id").GetString());
    }
}

using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Llama2.Server.Tests.Model;

/// <summary>A first start with no model files fetches them from Model:Download (a loopback server here).</summary>
public sealed class FirstRunDownloadTests
{
    [Fact]
    public async Task Missing_files_are_downloaded_before_ready_with_progress_on_health()
    {
        await using var checkpointServer = await LocalFileServer.StartAsync(await File.ReadAllBytesAsync(SharedData.Tiny32k, TestToken));
        await using var tokenizerServer = await LocalFileServer.StartAsync(await File.ReadAllBytesAsync(SharedData.Tokenizer32k, TestToken));
        checkpointServer.ChunkDelay = TimeSpan.FromMilliseconds(15); // ~190 chunks: long enough to watch /health
        using var temp = new TempDirectory();
        var checkpoint = temp.File("models/tiny32k.bin");
        var tokenizer = temp.File("models/tokenizer.bin");

        await using var factory = new ServerFactory(new Dictionary<string, string?>
        {
            ["Model:CheckpointPath"] = checkpoint,
            ["Model:TokenizerPath"] = tokenizer,
            ["Model:Download:CheckpointUrl"] = checkpointServer.UrlFor("tiny32k.bin").ToString(),
            ["Model:Download:TokenizerUrl"] = tokenizerServer.UrlFor("tokenizer.bin").ToString(),
            ["Model:Download:CheckpointBytes"] = new FileInfo(SharedData.Tiny32k).Length.ToString(),
        });
        var client = factory.CreateClient();

        var seen = new List<string>();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            using var health = await client.GetAsync("/health", TestToken);
            var body = await health.Content.ReadAsStringAsync(TestToken);
            if (health.StatusCode == HttpStatusCode.OK) break;
            Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
            seen.Add(body);
            Assert.True(DateTime.UtcNow < deadline, $"not ready after 60 s; last /health: {body}");
            await Task.Delay(20, TestToken);
        }

        Assert.Contains(seen, s => s.Contains("\"status\":\"downloading\"") && System.Text.RegularExpressions.Regex.IsMatch(s, @"downloading \d+% of tiny32k\.bin"));
        Assert.Equal(await File.ReadAllBytesAsync(SharedData.Tiny32k, TestToken), await File.ReadAllBytesAsync(checkpoint, TestToken));
        Assert.True(File.Exists(tokenizer));
        Assert.False(File.Exists(checkpoint + ".partial"));
        using var generated = await client.PostJsonAsync("/generate", """{"inputs":"Hello","parameters":{"max_new_tokens":3}}""");
        Assert.Equal(HttpStatusCode.OK, generated.StatusCode);
    }

    [Fact]
    public async Task A_failed_download_stops_the_server_and_leaves_no_model_file()
    {
        await using var fileServer = await LocalFileServer.StartAsync(new byte[10]);
        using var temp = new TempDirectory();
        var checkpoint = temp.File("tiny32k.bin");
        var stopping = new TaskCompletionSource();
        ModelHost? host = null;
        await using var factory = new ServerFactory(new Dictionary<string, string?>
        {
            ["Model:CheckpointPath"] = checkpoint,
            ["Model:TokenizerPath"] = SharedData.Tokenizer32k,
            ["Model:Download:CheckpointUrl"] = fileServer.UrlFor("tiny32k.bin").ToString(),
            ["Model:Download:CheckpointSha256"] = new string('0', 64),
        }, services => services.AddSingleton(sp =>
        {
            // Watched from the moment the container makes the host: the stop can come before start-up is over.
            sp.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.Register(() => stopping.TrySetResult());
            return host = ActivatorUtilities.CreateInstance<ModelHost>(sp);
        }));
        try
        {
            factory.CreateClient();
        }
        catch (Exception e) when (e is ObjectDisposedException or OperationCanceledException)
        {
            // The server stopped while the test host was still starting it: the outcome under test, seen early.
        }

        await stopping.Task.WaitAsync(TimeSpan.FromSeconds(30), TestToken);
        Assert.NotNull(host);
        Assert.Equal(ModelState.Failed, host.State);
        Assert.False(File.Exists(checkpoint));
    }

    [Fact]
    public void A_download_url_for_another_file_does_not_stand_in_for_a_missing_path()
    {
        var options = new ModelOptions
        {
            CheckpointPath = "/nowhere/my-model.bin",
            TokenizerPath = SharedData.Tokenizer32k,
            Download = new DownloadOptions { CheckpointUrl = "https://example.invalid/stories15M.bin" },
        };
        var result = new ModelFilesValidator().Validate(null, options);
        Assert.True(result.Failed);
        Assert.Contains("Model:CheckpointPath: file not found: /nowhere/my-model.bin", result.FailureMessage);
        Assert.Contains("no Model:Download:CheckpointUrl ending in that file name", result.FailureMessage);

        var matching = new ModelFilesValidator().Validate(null, new ModelOptions
        {
            CheckpointPath = "/nowhere/stories15M.bin",
            TokenizerPath = SharedData.Tokenizer32k,
            Download = new DownloadOptions { CheckpointUrl = "https://example.invalid/stories15M.bin" },
        });
        Assert.Equal(ValidateOptionsResult.Success, matching);
    }
}

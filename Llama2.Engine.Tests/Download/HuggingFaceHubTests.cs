using System.Net;
using Llama2.Engine.Download;

namespace Llama2.Engine.Tests.Download;

/// <summary>The hub client against a loopback stand-in: the listing it reads and the URLs and paths it makes of it.</summary>
public sealed class HuggingFaceHubTests : IAsyncLifetime
{
    readonly HttpClient _http = new();
    LocalFileServer _server = null!;

    public async ValueTask InitializeAsync() => _server = await LocalFileServer.StartAsync(HubStandIn.Repository("org/model", null,
        new Dictionary<string, byte[]> { ["config.json"] = "{}"u8.ToArray(), ["model.safetensors"] = new byte[100] }));

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        _http.Dispose();
    }

    [Fact]
    public async Task Lists_files_with_sizes_and_lfs_checksums_and_pins_urls_to_the_commit()
    {
        var hub = new HuggingFaceHub(_http, _server.BaseUrl, token: null);
        var repo = await hub.GetRepositoryAsync("org/model", "main", TestToken);

        Assert.Equal(HubStandIn.Commit, repo.Commit);
        Assert.Equal(2L, repo.Find("config.json")!.Size);
        Assert.Null(repo.Find("config.json")!.Sha256);
        var weights = repo.Find("model.safetensors")!;
        Assert.Equal(100L, weights.Size);
        Assert.Equal(64, weights.Sha256!.Length);
        var source = hub.Source(repo, weights);
        Assert.Equal(new Uri(_server.BaseUrl, $"org/model/resolve/{HubStandIn.Commit}/model.safetensors"), source.Url);
        Assert.Equal((100L, weights.Sha256), (source.ExpectedBytes, source.Sha256));
        Assert.Null(hub.Authorization);
        Assert.Equal("Bearer hf_x", new HuggingFaceHub(_http, _server.BaseUrl, "hf_x").Authorization!.ToString());
    }

    [Fact]
    public async Task A_refused_listing_is_a_download_exception_with_the_status()
    {
        _server.RequiredBearerToken = "hf_x";
        var e = await Assert.ThrowsAsync<DownloadException>(() =>
            new HuggingFaceHub(_http, _server.BaseUrl, "hf_other").GetRepositoryAsync("org/model", "main", TestToken));
        Assert.Equal(HttpStatusCode.Forbidden, e.StatusCode);
        Assert.Contains("org/model is gated", e.Message);
    }

    [Theory]
    [InlineData("meta-llama/Llama-2-7b-chat-hf", true)]
    [InlineData("gpt2", true)]
    [InlineData("TheBloke/Llama-2-7B-Chat-GGUF", true)]
    [InlineData("a/b/c", false)]
    [InlineData("a/..", false)]
    [InlineData("-a/b", false)]
    [InlineData("a b/c", false)]
    [InlineData("", false)]
    public void Repository_ids(string id, bool valid) => Assert.Equal(valid, HuggingFaceHub.IsRepositoryId(id));

    [Theory]
    [InlineData("../escape")]
    [InlineData("a/../../escape")]
    [InlineData("/etc/passwd")]
    [InlineData("a\\b")]
    [InlineData("a//b")]
    public void A_listed_name_that_would_leave_the_folder_is_refused(string name) =>
        Assert.Throws<DownloadException>(() => HuggingFaceHub.LocalPath("/models/x", name));

    [Fact]
    public void A_listed_name_in_a_subfolder_stays_inside() =>
        Assert.Equal(Path.Combine("/models/x", "original", "params.json"), HuggingFaceHub.LocalPath("/models/x", "original/params.json"));
}

using Llama2.Engine.Tests.Download;
using Llama2.Engine.Tests.Formats;
using static Llama2.Engine.Tests.Cli.CliTests;
using static Llama2.Engine.Tests.Formats.ForeignModels;

namespace Llama2.Engine.Tests.Cli;

/// <summary>
/// <c>Llama2.Cli download --hf</c> against a loopback server standing in for huggingface.co (HF_ENDPOINT): which files
/// it fetches, the token it sends, what a gated repo's refusal says, and that the fetched folder converts.
/// </summary>
public sealed class CliHuggingFaceDownloadTests : IDisposable
{
    const string Repo = "test-org/Tiny-chat-hf";
    readonly TempDirectory _dir = new();
    readonly string _original;
    readonly string _folder;

    public CliHuggingFaceDownloadTests()
    {
        _original = _dir.File("original.bin");
        CheckpointWriter.WriteRandom(_original, TestModels.Small(), version: 1, seed: 8);
        using var bin = Checkpoint.Open(_original);
        _folder = WriteHuggingFace(bin, _dir.File("published"), new HuggingFaceOptions
        {
            Shards = 2,
            Pieces = SentencePieceWriter.LlamaStylePieces(300, "▁a", "▁b"),
        });
        File.WriteAllText(Path.Combine(_folder, "README.md"), "# a model card");
        File.WriteAllBytes(Path.Combine(_folder, "pytorch_model.bin"), new byte[1000]); // the same weights for PyTorch: not fetched
    }

    public void Dispose() => _dir.Dispose();

    static Dictionary<string, string?> Environment(LocalFileServer server, string? token = null) => new()
    {
        ["HF_ENDPOINT"] = server.BaseUrl.ToString(),
        ["HF_TOKEN"] = token,
    };

    (int ExitCode, string Stdout, string Stderr) Download(LocalFileServer server, string? token, params string[] args) =>
        RunCliWith(Environment(server, token), "", ["download", .. args, "--dir", _dir.File("models")]);

    [Fact]
    public async Task Fetches_config_index_shards_and_tokenizer_which_convert_to_the_original_model()
    {
        await using var server = await LocalFileServer.StartAsync(HubStandIn.Repository(Repo, _folder));

        var (exit, _, stderr) = await Task.Run(() => Download(server, null, "--hf", Repo), TestToken);

        Assert.True(exit == 0, stderr);
        var local = _dir.File("models/Tiny-chat-hf");
        Assert.Equal(
            ["config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json", "tokenizer.model"],
            Directory.GetFiles(local).Select(Path.GetFileName).Order());
        foreach (var file in Directory.GetFiles(local))
            Assert.Equal(File.ReadAllBytes(Path.Combine(_folder, Path.GetFileName(file))), File.ReadAllBytes(file));
        Assert.Contains($"api/models/{Repo}/revision/main?blobs=true", server.Requests.Select(r => r.Path));
        Assert.All(server.Requests, r => Assert.Equal("", r.Authorization)); // no HF_TOKEN, no header
        Assert.Contains($"saved {local}; make a checkpoint of it with: Llama2.Cli convert {local} Tiny-chat-hf.bin", stderr);

        var converted = _dir.File("converted.bin");
        var (convertExit, _, convertErr) = RunCli("convert", local, converted, "--version", "1");
        Assert.True(convertExit == 0, convertErr);
        Assert.Equal(File.ReadAllBytes(_original), File.ReadAllBytes(converted));
    }

    [Fact]
    public async Task A_gated_repo_without_a_token_says_to_accept_the_licence_and_set_HF_TOKEN()
    {
        await using var server = await LocalFileServer.StartAsync(HubStandIn.Repository(Repo, _folder));
        server.RequiredBearerToken = "hf_secret";
        server.PublicPrefixes.Add("api/"); // as on huggingface.co, a gated repo's listing is public, its files are not

        var (exit, stdout, stderr) = await Task.Run(() => Download(server, null, "--hf", Repo), TestToken);

        Assert.Equal(1, exit);
        Assert.Equal("", stdout);
        Assert.Contains($"error: {Repo} needs a Hugging Face token", stderr);
        Assert.Contains($"accept its licence at {server.BaseUrl}{Repo} while logged in", stderr);
        Assert.Contains("set HF_TOKEN", stderr);
        Assert.False(File.Exists(_dir.File("models/Tiny-chat-hf/config.json")));

        (exit, _, stderr) = await Task.Run(() => Download(server, "hf_not_granted", "--hf", Repo), TestToken);
        Assert.Equal(1, exit);
        Assert.Contains($"error: {Repo} is gated and the token in HF_TOKEN has no access to it yet", stderr);
    }

    [Fact]
    public async Task The_token_goes_to_the_hub_but_not_to_the_storage_its_files_redirect_to()
    {
        var files = HubStandIn.Repository(Repo, _folder);
        foreach (var path in files.Keys.Where(p => p.EndsWith(".safetensors")).ToList())
            files["cdn/" + Path.GetFileName(path)] = files[path];
        await using var server = await LocalFileServer.StartAsync(files);
        foreach (var path in files.Keys.Where(p => p.StartsWith(Repo) && p.EndsWith(".safetensors")))
            server.Redirects[path] = "cdn/" + Path.GetFileName(path);
        server.RequiredBearerToken = "hf_secret";
        server.PublicPrefixes.Add("cdn/"); // signed URLs: no token needed, none wanted

        var (exit, _, stderr) = await Task.Run(() => Download(server, "hf_secret", "--hf", Repo), TestToken);

        Assert.True(exit == 0, stderr);
        Assert.All(server.Requests.Where(r => !r.Path.StartsWith("cdn/")), r => Assert.Equal("Bearer hf_secret", r.Authorization));
        var cdn = server.Requests.Where(r => r.Path.StartsWith("cdn/")).ToList();
        Assert.Equal(2, cdn.Count);
        Assert.All(cdn, r => Assert.Equal("", r.Authorization));
        Assert.Equal(File.ReadAllBytes(Path.Combine(_folder, "model-00002-of-00002.safetensors")),
            File.ReadAllBytes(_dir.File("models/Tiny-chat-hf/model-00002-of-00002.safetensors")));
    }

    [Fact]
    public async Task A_gguf_repo_asks_for_one_file_and_fetches_the_one_named()
    {
        const string GgufRepo = "test-org/Tiny-GGUF";
        var gguf = new Dictionary<string, byte[]>
        {
            ["tiny.Q4_K_M.gguf"] = new byte[300], ["tiny.Q8_0.gguf"] = new byte[500], ["README.md"] = "# card"u8.ToArray(),
        };
        await using var server = await LocalFileServer.StartAsync(HubStandIn.Repository(GgufRepo, null, gguf));

        var (exit, _, stderr) = await Task.Run(() => Download(server, null, "--hf", GgufRepo), TestToken);
        Assert.Equal(1, exit);
        Assert.Contains("holds GGUF files, not a safetensors model: choose one with --file (e.g. --file tiny.Q8_0.gguf)", stderr);

        (exit, _, stderr) = await Task.Run(() => Download(server, null, "--hf", GgufRepo, "--file", "tiny.Q8_0.gguf"), TestToken);
        Assert.True(exit == 0, stderr);
        Assert.Equal(["tiny.Q8_0.gguf"], Directory.GetFiles(_dir.File("models/Tiny-GGUF")).Select(Path.GetFileName));

        (exit, _, stderr) = await Task.Run(() => Download(server, null, "--hf", GgufRepo, "--file", "tiny.F16.gguf"), TestToken);
        Assert.Equal(1, exit);
        Assert.Contains($"{GgufRepo} has no tiny.F16.gguf; it has README.md, tiny.Q4_K_M.gguf, tiny.Q8_0.gguf", stderr);
    }

    [Fact]
    public async Task A_file_whose_bytes_differ_from_the_hub_checksum_is_removed()
    {
        var files = HubStandIn.Repository(Repo, _folder);
        var shard = $"{Repo}/resolve/{HubStandIn.Commit}/model-00001-of-00002.safetensors";
        files[shard] = files[shard].ToArray();
        files[shard][^1] ^= 0xFF; // same size, other content
        await using var server = await LocalFileServer.StartAsync(files);

        var (exit, _, stderr) = await Task.Run(() => Download(server, null, "--hf", Repo), TestToken);

        Assert.Equal(1, exit);
        Assert.Contains("SHA-256", stderr);
        Assert.False(File.Exists(_dir.File("models/Tiny-chat-hf/model-00001-of-00002.safetensors")));
        Assert.False(File.Exists(_dir.File("models/Tiny-chat-hf/model-00001-of-00002.safetensors.partial")));
    }

    [Fact]
    public async Task An_unknown_repo_and_a_file_of_the_wrong_size_already_there_are_clear_errors()
    {
        await using var server = await LocalFileServer.StartAsync(HubStandIn.Repository(Repo, _folder));

        var (exit, _, stderr) = await Task.Run(() => Download(server, null, "--hf", "test-org/Nothing"), TestToken);
        Assert.Equal(1, exit);
        Assert.Contains("error: test-org/Nothing at revision 'main' was not found on", stderr);

        Directory.CreateDirectory(_dir.File("models/Tiny-chat-hf"));
        File.WriteAllText(_dir.File("models/Tiny-chat-hf/config.json"), "{}");
        (exit, _, stderr) = await Task.Run(() => Download(server, null, "--hf", Repo), TestToken);
        Assert.Equal(1, exit);
        Assert.Contains("config.json is there but is 2 bytes", stderr);
        Assert.Equal("{}", File.ReadAllText(_dir.File("models/Tiny-chat-hf/config.json")));
    }

    [Theory]
    [InlineData(new[] { "download", "stories15M", "--hf", "a/b" }, "give either a model or --hf, not both")]
    [InlineData(new[] { "download" }, "give a model (stories15M, stories42M, stories110M, or a URL) or --hf REPO")]
    [InlineData(new[] { "download", "--hf", "a/b", "--sha256", "0000000000000000000000000000000000000000000000000000000000000000" }, "--sha256 is for a model or URL")]
    [InlineData(new[] { "download", "stories15M", "--revision", "v2" }, "--revision and --file go with --hf")]
    [InlineData(new[] { "download", "--hf", "https://huggingface.co/a/b" }, "--hf takes a repo id such as meta-llama/Llama-2-7b-chat-hf")]
    [InlineData(new[] { "download", "--hf", "a/../b" }, "--hf takes a repo id")]
    public void A_command_line_that_mixes_the_two_ways_is_refused(string[] args, string message) =>
        CliCommandLineTests.AssertRefused(RunCli(args), message);
}

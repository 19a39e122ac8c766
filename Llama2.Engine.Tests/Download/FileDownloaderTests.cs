using System.Security.Cryptography;
using Llama2.Engine.Download;

namespace Llama2.Engine.Tests.Download;

public sealed class FileDownloaderTests : IAsyncLifetime
{
    readonly TempDirectory _dir = new();
    readonly HttpClient _http = new();
    LocalFileServer _server = null!;
    readonly byte[] _content = RandomNumberGenerator.GetBytes(3 * 1024 * 1024 + 17);

    public async ValueTask InitializeAsync() => _server = await LocalFileServer.StartAsync(_content);

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        _http.Dispose();
        _dir.Dispose();
    }

    FileDownloader Downloader => new(_http) { RetryDelay = TimeSpan.Zero, ProgressInterval = TimeSpan.Zero };
    string Sha => Convert.ToHexStringLower(SHA256.HashData(_content));

    /// <summary>Downloads the served file, with its size and SHA-256, to <paramref name="destination"/>.</summary>
    Task DownloadTheFileAsync(string destination, IProgress<DownloadProgress>? progress = null) =>
        Downloader.DownloadAsync(new ModelSource(_server.FileUrl, _content.Length, Sha), destination, progress, TestToken);

    /// <summary>The error a download of <paramref name="source"/> to <paramref name="destination"/> fails with.</summary>
    static Task<DownloadException> FailsAsync(FileDownloader downloader, ModelSource source, string destination) =>
        Assert.ThrowsAsync<DownloadException>(() => downloader.DownloadAsync(source, destination, cancellationToken: TestToken));

    sealed class Recorder : IProgress<DownloadProgress>
    {
        public List<DownloadProgress> Reports { get; } = [];
        public void Report(DownloadProgress value) { lock (Reports) Reports.Add(value); }
    }

    [Fact]
    public async Task Downloads_verifies_and_renames_into_place_reporting_progress()
    {
        var destination = _dir.File("models/model.bin");
        var progress = new Recorder();
        await DownloadTheFileAsync(destination, progress);

        Assert.Equal(_content, File.ReadAllBytes(destination));
        Assert.False(File.Exists(FileDownloader.PartialPath(destination)));
        Assert.NotEmpty(progress.Reports);
        Assert.All(progress.Reports, p => Assert.Equal(_content.Length, p.TotalBytes));
        Assert.Equal(progress.Reports.Select(p => p.ReceivedBytes).Order(), progress.Reports.Select(p => p.ReceivedBytes));
        Assert.Equal(_content.Length, progress.Reports[^1].ReceivedBytes);
        Assert.Equal(1.0, progress.Reports[^1].Fraction);
        Assert.Contains("100%", progress.Reports[^1].ToString());
    }

    [Fact]
    public async Task Checksum_mismatch_is_rejected_and_leaves_no_file()
    {
        var destination = _dir.File("model.bin");
        var wrong = new string('0', 64);
        var e = await FailsAsync(Downloader, new ModelSource(_server.FileUrl, Sha256: wrong), destination);
        Assert.Contains("SHA-256", e.Message);
        Assert.Contains(Sha, e.Message);
        Assert.False(File.Exists(destination));
        Assert.False(File.Exists(FileDownloader.PartialPath(destination)));
    }

    [Fact]
    public async Task Wrong_expected_size_is_rejected_and_leaves_no_file()
    {
        var destination = _dir.File("model.bin");
        var e = await FailsAsync(Downloader, new ModelSource(_server.FileUrl, ExpectedBytes: 1000), destination);
        Assert.Contains("1000 were expected", e.Message);
        Assert.False(File.Exists(destination));
    }

    [Fact]
    public async Task A_cut_connection_is_resumed_with_a_range_request()
    {
        var destination = _dir.File("model.bin");
        _server.CutNextResponseAfter = 1024 * 1024;
        await DownloadTheFileAsync(destination);

        Assert.Equal(_content, File.ReadAllBytes(destination));
        var ranges = _server.RangeHeaders.ToArray();
        Assert.Equal("", ranges[0]);
        Assert.Equal(2, ranges.Length);
        Assert.Matches(@"^bytes=\d+-$", ranges[1]);
        // Resumed from what had arrived: not from 0, and not past what the server sent before the cut (how much of
        // that arrived before the abort reset the connection depends on the network stack).
        Assert.InRange(long.Parse(ranges[1][6..^1]), 1, 1024 * 1024);
    }

    [Fact]
    public async Task A_partial_file_left_by_an_earlier_run_is_resumed()
    {
        var destination = _dir.File("model.bin");
        File.WriteAllBytes(FileDownloader.PartialPath(destination), _content.AsSpan(0, 500_000).ToArray());
        await DownloadTheFileAsync(destination);
        Assert.Equal(_content, File.ReadAllBytes(destination));
        Assert.Equal(["bytes=500000-"], _server.RangeHeaders);
    }

    [Fact]
    public async Task A_server_that_ignores_range_makes_it_start_over()
    {
        var destination = _dir.File("model.bin");
        File.WriteAllBytes(FileDownloader.PartialPath(destination), new byte[1234]); // garbage
        _server.IgnoreRange = true;
        await DownloadTheFileAsync(destination);
        Assert.Equal(_content, File.ReadAllBytes(destination));
    }

    [Fact]
    public async Task Http_error_says_what_to_do()
    {
        var destination = _dir.File("model.bin");
        var e = await FailsAsync(Downloader, new ModelSource(_server.MissingUrl), destination);
        Assert.Contains("404", e.Message);
        Assert.False(File.Exists(destination));
    }

    [Fact]
    public async Task Unreachable_server_gives_up_with_advice()
    {
        var destination = _dir.File("model.bin");
        var downloader = new FileDownloader(_http) { RetryDelay = TimeSpan.Zero, MaxAttempts = 2 };
        var e = await FailsAsync(downloader, new ModelSource(new Uri("http://127.0.0.1:9/none")), destination);
        Assert.Contains("after 2 attempts", e.Message);
        Assert.Contains("Check the network", e.Message);
        Assert.False(File.Exists(destination));
    }
}

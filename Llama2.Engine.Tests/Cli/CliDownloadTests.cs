using System.Security.Cryptography;
using Llama2.Engine.Tests.Download;
using Llama2.Engine.Tests.TestData;

namespace Llama2.Engine.Tests.Cli;

public sealed class CliDownloadTests
{
    [Fact]
    public async Task Download_from_a_url_saves_the_file_with_a_progress_bar()
    {
        var content = RandomNumberGenerator.GetBytes(2_000_000);
        await using var server = await LocalFileServer.StartAsync(content);
        using var dir = new TempDirectory();
        var sha = Convert.ToHexStringLower(SHA256.HashData(content));

        var (exit, _, stderr) = await Task.Run(() =>
            CliTests.RunCli("download", server.FileUrl.ToString(), "--dir", dir.Path, "--sha256", sha),
            TestContext.Current.CancellationToken);

        Assert.Equal(0, exit);
        Assert.Equal(content, File.ReadAllBytes(dir.File("file")));
        Assert.Contains("[##############################] file: 100%", stderr);
        Assert.Contains("saved", stderr);
    }

    [Fact]
    public async Task Download_with_a_wrong_checksum_fails_and_keeps_nothing()
    {
        await using var server = await LocalFileServer.StartAsync(new byte[1000]);
        using var dir = new TempDirectory();
        var (exit, _, stderr) = await Task.Run(() =>
            CliTests.RunCli("download", server.FileUrl.ToString(), "--dir", dir.Path, "--sha256", new string('a', 64)),
            TestContext.Current.CancellationToken);
        Assert.Equal(1, exit);
        Assert.Contains("SHA-256", stderr);
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void Download_of_an_unknown_name_says_what_is_known()
    {
        var (exit, _, stderr) = CliTests.RunCli("download", "stories1B");
        Assert.Equal(1, exit);
        Assert.Contains("stories15M, stories42M, stories110M", stderr);
    }
}

using System.Security.Cryptography;
using Llama2.Engine.Tests.Download;

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

    [Fact]
    public async Task Download_to_a_redirected_stderr_writes_progress_lines_without_carriage_returns()
    {
        var content = RandomNumberGenerator.GetBytes(2_000_000); // 31 chunks of 64 KiB, 40 ms apart: about 1.2 s
        await using var server = await LocalFileServer.StartAsync(content);
        server.ChunkDelay = TimeSpan.FromMilliseconds(40);
        using var dir = new TempDirectory();

        var (exit, _, stderr) = await Task.Run(() => CliTests.RunCli("download", server.FileUrl.ToString(), "--dir", dir.Path),
            TestContext.Current.CancellationToken);

        Assert.Equal(0, exit);
        Assert.DoesNotContain('\r', stderr);
        var progress = stderr.ReplaceLineEndings("\n").Split('\n').Where(line => line.StartsWith('[')).ToList();
        Assert.InRange(progress.Count, 2, 12); // the start, some of the tenths, the end: not one line per report
        Assert.All(progress, line => Assert.Matches(@"^\[[#.]{30}\] file: \d+% [\d.]+ MB of 1\.9 MB at [\d.]+ MB/s$", line));
        Assert.StartsWith("[##############################] file: 100%", progress[^1]);
    }

    [Fact]
    public void Download_with_a_malformed_checksum_is_refused_before_anything_is_fetched()
    {
        using var dir = new TempDirectory();
        var target = dir.File("models");
        CliCommandLineTests.AssertRefused(CliTests.RunCli("download", "stories15M", "--dir", target, "--sha256", "abc"),
            "--sha256 takes 64 hexadecimal digits, not 'abc'");
        Assert.False(Directory.Exists(target));
    }

    [Fact]
    public async Task Ctrl_C_during_a_download_stops_it_with_exit_130_and_keeps_the_partial_file()
    {
        Assert.SkipWhen(OperatingSystem.IsWindows(), "sends SIGINT with kill(1)");
        var content = RandomNumberGenerator.GetBytes(4_000_000); // 62 chunks, 200 ms apart: 12 s unless stopped
        await using var server = await LocalFileServer.StartAsync(content);
        server.ChunkDelay = TimeSpan.FromMilliseconds(200);
        using var dir = new TempDirectory();
        var partial = dir.File("file.partial");

        using var cli = CliTests.StartCli("download", server.FileUrl.ToString(), "--dir", dir.Path);
        var stdout = cli.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = cli.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        for (int i = 0; i < 300 && !(File.Exists(partial) && new FileInfo(partial).Length > 0); i++)
            await Task.Delay(50, TestContext.Current.CancellationToken); // polls for the first bytes, 15 s at most
        Assert.True(File.Exists(partial), "the download did not start");

        using (var kill = System.Diagnostics.Process.Start("kill", ["-INT", cli.Id.ToString()]))
            await kill.WaitForExitAsync(TestContext.Current.CancellationToken);
        Assert.True(cli.WaitForExit(30_000), "the CLI did not stop after SIGINT");

        Assert.Equal(130, cli.ExitCode);
        Assert.Contains("cancelled; run the same command again to resume", await stderr);
        Assert.Equal("", await stdout);
        Assert.True(new FileInfo(partial).Length is > 0 and < 4_000_000);
        Assert.False(File.Exists(dir.File("file")));
    }
}

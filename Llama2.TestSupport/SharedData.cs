using Xunit;

namespace Llama2.TestSupport;

/// <summary>
/// Finds ../shared (real models and run.c's golden outputs) beside the repository, or where LLAMA2_SHARED points.
/// A test that needs it and cannot find it fails under CI and is skipped otherwise.
/// </summary>
public static class SharedData
{
    static readonly Lazy<string?> Root = new(FindRoot);

    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    public static string Tiny32k => Require("models/tiny32k.bin");
    public static string Stories260K => Require("models/stories260K.bin");
    public static string Tokenizer32k => Require("models/tokenizer.bin");

    /// <summary>Path of a file under ../shared (e.g. "models/tiny32k.bin"); skips or fails the test if it is missing.</summary>
    public static string Require(string relativePath)
    {
        var root = Root.Value;
        var path = root is null ? null : Path.Combine(root, relativePath);
        if (path is not null && File.Exists(path)) return path;

        var reason = root is null
            ? $"test data folder not found: set LLAMA2_SHARED or put 'shared/' beside the repository ({Path.GetFullPath(Path.Combine(RepositoryRoot, "..", "shared"))})"
            : $"test data file not found: {path}";
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("CI"))) Assert.Fail(reason);
        Assert.Skip(reason);
        return null!;
    }

    static string? FindRoot()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("LLAMA2_SHARED");
        if (!string.IsNullOrEmpty(fromEnvironment)) return Directory.Exists(fromEnvironment) ? Path.GetFullPath(fromEnvironment) : null;
        var beside = Path.GetFullPath(Path.Combine(RepositoryRoot, "..", "shared"));
        return Directory.Exists(beside) ? beside : null;
    }

    static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Llama2.slnx"))) return dir.FullName;
        // Built outside the tree (LLAMA2_ARTIFACTS): the build recorded where the sources were.
        var recorded = typeof(SharedData).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), false)
            .Cast<System.Reflection.AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == "RepositoryRoot")?.Value;
        if (recorded is not null && File.Exists(Path.Combine(recorded, "Llama2.slnx"))) return Path.GetFullPath(recorded);
        throw new InvalidOperationException($"Llama2.slnx not found above {AppContext.BaseDirectory}");
    }
}

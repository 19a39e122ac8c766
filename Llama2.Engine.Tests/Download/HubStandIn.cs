using System.Security.Cryptography;

namespace Llama2.Engine.Tests.Download;

/// <summary>
/// The files a loopback <see cref="LocalFileServer"/> serves to stand in for huggingface.co: a repository listing at
/// api/models/{repo}/revision/{revision} (siblings with sizes, LFS files with their SHA-256, the commit as sha) and
/// each file at {repo}/resolve/{commit}/{name}.
/// </summary>
public static class HubStandIn
{
    public const string Commit = "0123456789abcdef0123456789abcdef01234567";

    /// <summary>The files of <paramref name="folder"/> (and <paramref name="extra"/>) as repository <paramref name="repo"/> at main.</summary>
    public static Dictionary<string, byte[]> Repository(string repo, string? folder, IReadOnlyDictionary<string, byte[]>? extra = null)
    {
        var files = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        if (folder is not null)
            foreach (var path in Directory.GetFiles(folder)) files[Path.GetFileName(path)] = File.ReadAllBytes(path);
        foreach (var (name, bytes) in extra ?? new Dictionary<string, byte[]>()) files[name] = bytes;

        var siblings = files.Select(f => IsLfs(f.Key)
            ? (object)new { rfilename = f.Key, size = f.Value.Length, lfs = new { sha256 = Convert.ToHexStringLower(SHA256.HashData(f.Value)), size = f.Value.Length, pointerSize = 134 } }
            : new { rfilename = f.Key, size = f.Value.Length });
        var served = new Dictionary<string, byte[]>
        {
            [$"api/models/{repo}/revision/main"] = JsonSerializer.SerializeToUtf8Bytes(new { id = repo, sha = Commit, siblings }),
        };
        foreach (var (name, bytes) in files) served[$"{repo}/resolve/{Commit}/{name}"] = bytes;
        return served;
    }

    static bool IsLfs(string name) => name.EndsWith(".safetensors") || name.EndsWith(".gguf") || name.EndsWith(".model");
}

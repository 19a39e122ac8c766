using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.RegularExpressions;
using Llama2.Engine.Formats.HuggingFace;

namespace Llama2.Engine.Download;

/// <summary>A file of a Hugging Face repository: its path in the repo, and its size and SHA-256 when the hub gives them.</summary>
public sealed record HubFile(string Name, long? Size, string? Sha256);

/// <summary>A repository at a revision: the commit the revision points to and the files there.</summary>
public sealed record HubRepository(string Id, string Revision, string Commit, IReadOnlyList<HubFile> Files)
{
    public HubFile? Find(string name) => Files.FirstOrDefault(f => f.Name == name);
}

/// <summary>
/// The Hugging Face Hub's HTTP API, the little a download needs: a model repository's files
/// (<c>GET {endpoint}/api/models/{repo}/revision/{revision}?blobs=true</c>, sizes and LFS SHA-256 included) and each
/// file's URL (<c>{endpoint}/{repo}/resolve/{commit}/{file}</c>, pinned to the listing's commit). The endpoint is
/// huggingface.co unless HF_ENDPOINT says otherwise (as huggingface_hub reads it); HF_TOKEN, when set, is sent as a
/// bearer token, which gated repos (Meta's Llama 2) need.
/// </summary>
public sealed partial class HuggingFaceHub(HttpClient http, Uri endpoint, string? token)
{
    public const string EndpointVariable = "HF_ENDPOINT", TokenVariable = "HF_TOKEN";
    public static Uri DefaultEndpoint { get; } = new("https://huggingface.co/");

    public Uri Endpoint { get; } = endpoint.AbsoluteUri.EndsWith('/') ? endpoint : new Uri(endpoint.AbsoluteUri + "/");
    public bool HasToken => !string.IsNullOrEmpty(token);
    /// <summary>The header file requests carry: the token, or null.</summary>
    public AuthenticationHeaderValue? Authorization => HasToken ? new AuthenticationHeaderValue("Bearer", token) : null;

    /// <summary>The hub HF_ENDPOINT names (huggingface.co by default), with HF_TOKEN when it is set.</summary>
    public static HuggingFaceHub FromEnvironment(HttpClient http)
    {
        string? configured = Environment.GetEnvironmentVariable(EndpointVariable);
        var endpoint = string.IsNullOrWhiteSpace(configured) ? DefaultEndpoint
            : Uri.TryCreate(configured, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" ? uri
            : throw new DownloadException($"{EndpointVariable} is '{configured}', not an http(s) URL");
        return new HuggingFaceHub(http, endpoint, Environment.GetEnvironmentVariable(TokenVariable));
    }

    /// <summary>Whether <paramref name="id"/> has the form of a repo id: a name, or owner/name, of letters, digits, '-', '_' and '.'.</summary>
    public static bool IsRepositoryId(string id) => RepositoryId().IsMatch(id) && !id.Contains("..") && id.Length <= 96 + 1 + 96;

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")]
    private static partial Regex RepositoryId();

    public Uri PageUrl(string repo) => new(Endpoint, repo);

    public Uri FileUrl(HubRepository repo, string file) =>
        new(Endpoint, $"{repo.Id}/resolve/{Uri.EscapeDataString(repo.Commit)}/{string.Join('/', file.Split('/').Select(Uri.EscapeDataString))}");

    /// <summary>Where a file of the repository goes in <paramref name="folder"/>; a name that would leave it is refused.</summary>
    public static string LocalPath(string folder, string name)
    {
        var parts = name.Split('/');
        if (name.Length == 0 || name.StartsWith('/') || parts.Any(p => p is "" or "." or "..") || name.Contains('\\'))
            throw new DownloadException($"the hub lists a file named '{name}', which is not a path inside the repo");
        return Path.Combine([folder, .. parts]);
    }

    /// <summary>Where to fetch a file of the repository from, with what it must be.</summary>
    public ModelSource Source(HubRepository repo, HubFile file) => new(FileUrl(repo, file.Name), file.Size, file.Sha256);

    /// <summary>Lists the repository's files at <paramref name="revision"/>; refusals become a <see cref="DownloadException"/> saying what to do.</summary>
    public async Task<HubRepository> GetRepositoryAsync(string repo, string revision, CancellationToken cancellationToken)
    {
        var url = new Uri(Endpoint, $"api/models/{repo}/revision/{Uri.EscapeDataString(revision)}?blobs=true");
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Authorization = Authorization;
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, cancellationToken);
        }
        catch (HttpRequestException e)
        {
            throw new DownloadException($"could not reach {Endpoint}: {e.Message}. Check the network (or {EndpointVariable}).", e);
        }
        using (response)
        {
            if (!response.IsSuccessStatusCode) throw Refusal(repo, revision, response);
            try
            {
                using var json = JsonDocument.Parse(await response.Content.ReadAsStreamAsync(cancellationToken));
                return ParseListing(repo, revision, json.RootElement);
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException)
            {
                throw new DownloadException($"{url} did not answer with a repository listing ({e.Message})", e);
            }
        }
    }

    static HubRepository ParseListing(string repo, string revision, JsonElement root)
    {
        string commit = root.TryGetProperty("sha", out var sha) && sha.ValueKind == JsonValueKind.String ? sha.GetString()! : revision;
        var files = new List<HubFile>();
        foreach (var sibling in root.GetProperty("siblings").EnumerateArray())
        {
            string name = sibling.GetProperty("rfilename").GetString()!;
            long? size = sibling.TryGetProperty("size", out var s) && s.ValueKind == JsonValueKind.Number ? s.GetInt64() : null;
            string? sha256 = null;
            if (sibling.TryGetProperty("lfs", out var lfs) && lfs.ValueKind == JsonValueKind.Object)
            {
                if (lfs.TryGetProperty("sha256", out var h) && h.ValueKind == JsonValueKind.String) sha256 = h.GetString();
                if (lfs.TryGetProperty("size", out var ls) && ls.ValueKind == JsonValueKind.Number) size = ls.GetInt64();
            }
            files.Add(new HubFile(name, size, sha256));
        }
        return new HubRepository(repo, revision, commit, files);
    }

    /// <summary>The exception for a refused listing: what a 401, 403 or 404 from the hub means and what to do.</summary>
    DownloadException Refusal(string repo, string revision, HttpResponseMessage response)
    {
        string detail = response.Headers.TryGetValues("X-Error-Message", out var messages) ? $" ({messages.First()})" : "";
        return new DownloadException(RefusalMessage(repo, revision, response.StatusCode, detail) ??
            $"{Endpoint} answered {(int)response.StatusCode} {response.ReasonPhrase} for {repo}{detail}.", statusCode: response.StatusCode);
    }

    /// <summary>
    /// A failed file download explained for a repository: a 401 or 403 says how to get access; other failures keep
    /// their message.
    /// </summary>
    public string Explain(HubRepository repo, DownloadException e) =>
        e.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden
            ? RefusalMessage(repo.Id, repo.Revision, e.StatusCode.Value, "")!
            : e.Message;

    string? RefusalMessage(string repo, string revision, HttpStatusCode status, string detail)
    {
        string licence = $"accept its licence at {PageUrl(repo)} while logged in";
        return status switch
        {
            HttpStatusCode.Unauthorized when !HasToken =>
                $"{repo} needs a Hugging Face token{detail}: it is gated or private, or it does not exist. For a gated repo, {licence}, " +
                $"create a read token at {new Uri(Endpoint, "settings/tokens")} and set {TokenVariable} to it.",
            HttpStatusCode.Unauthorized =>
                $"the token in {TokenVariable} was refused for {repo}{detail}: check it, and that the repo exists.",
            HttpStatusCode.Forbidden =>
                $"{repo} is gated and the token in {TokenVariable} has no access to it yet{detail}: {licence} and wait for the grant, then try again.",
            HttpStatusCode.NotFound =>
                $"{repo} at revision '{revision}' was not found on {Endpoint}{detail}.",
            _ => null,
        };
    }

    /// <summary>
    /// What a model folder needs from the repository before its weights: config.json, the shard index when the weights
    /// are sharded, and tokenizer.model when the repo has one. Refuses a repository without safetensors weights, saying
    /// what it has instead.
    /// </summary>
    public static IReadOnlyList<HubFile> ModelMetadataFiles(HubRepository repo)
    {
        var config = repo.Find(HuggingFaceModel.ConfigFile);
        var index = repo.Find(HuggingFaceModel.IndexFile);
        var single = repo.Find(HuggingFaceModel.SingleFile);
        if (config is null || (index is null && single is null))
        {
            var gguf = repo.Files.Where(f => f.Name.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase)).Select(f => f.Name).ToList();
            throw new DownloadException(gguf.Count > 0
                ? $"{repo.Id} holds GGUF files, not a safetensors model: choose one with --file (e.g. --file {gguf.FirstOrDefault(n => n.Contains("Q8_0")) ?? gguf[0]}); " +
                  $"it has {string.Join(", ", gguf)}"
                : $"{repo.Id} has no {(config is null ? HuggingFaceModel.ConfigFile : $"{HuggingFaceModel.SingleFile} or {HuggingFaceModel.IndexFile}")}: " +
                  "not a Hugging Face model with safetensors weights");
        }
        return new[] { config, index, repo.Find(HuggingFaceModel.TokenizerFile) }.OfType<HubFile>().ToList();
    }

    /// <summary>
    /// The weight files: the shards the downloaded index (<paramref name="indexPath"/>) lists, or model.safetensors
    /// when there is no index.
    /// </summary>
    public static IReadOnlyList<HubFile> ModelWeightFiles(HubRepository repo, string? indexPath)
    {
        if (indexPath is null) return [repo.Find(HuggingFaceModel.SingleFile)!];
        var shards = new List<HubFile>();
        foreach (var name in HuggingFaceModel.ReadWeightMap(indexPath).Select(e => e.File).Distinct())
            shards.Add(repo.Find(name) ?? throw new DownloadException($"{repo.Id}'s {HuggingFaceModel.IndexFile} lists {name}, which the repo does not have"));
        return shards;
    }
}

using System.CommandLine;
using Llama2.Engine.Download;
using Llama2.Engine.Formats.HuggingFace;
using Llama2.Engine.Model;
using Llama2.Engine.Progress;

namespace Llama2.Cli;

/// <summary>
/// <c>Llama2.Cli download &lt;stories15M|stories42M|stories110M|URL&gt; [--dir DIR] [--sha256 HEX]</c>, or
/// <c>Llama2.Cli download --hf OWNER/NAME [--revision REV] [--file NAME]... [--dir DIR]</c> for a Hugging Face repo.
/// </summary>
public static class DownloadCommand
{
    public static Command Create()
    {
        string known = string.Join(", ", ModelSource.KnownModels.Keys);
        var model = new Argument<string?>("model")
        {
            Description = $"{known}, or the http(s) URL of a checkpoint",
            Arity = ArgumentArity.ZeroOrOne,
        };
        model.Validators.Add(result =>
        {
            string? what = result.GetValueOrDefault<string?>();
            if (what is not null && !ModelSource.KnownModels.ContainsKey(what) && !IsHttpUrl(what, out _))
                result.AddError($"'{what}' is neither a known model ({known}) nor an http(s) URL");
        });
        var dir = new Option<string>("--dir")
        {
            Description = "folder to save into (a Hugging Face repo goes into a folder named after it there)",
            HelpName = "folder",
            DefaultValueFactory = _ => "models",
        };
        var sha256 = new Option<string?>("--sha256")
        {
            Description = "SHA-256 the checkpoint must have; a file that differs is removed",
            HelpName = "hex",
        };
        sha256.Validators.Add(result =>
        {
            string? hex = result.GetValueOrDefault<string?>();
            if (hex is not null && (hex.Length != 64 || !hex.All(char.IsAsciiHexDigit)))
                result.AddError($"--sha256 takes 64 hexadecimal digits, not '{hex}'");
        });
        var hf = new Option<string?>("--hf")
        {
            Description = $"a Hugging Face model repo (e.g. meta-llama/Llama-2-7b-chat-hf): its config.json, safetensors and tokenizer.model; " +
                          $"{HuggingFaceHub.TokenVariable} is sent as the token (gated repos), {HuggingFaceHub.EndpointVariable} replaces huggingface.co",
            HelpName = "repo",
        };
        hf.Validators.Add(result =>
        {
            string? repo = result.GetValueOrDefault<string?>();
            if (repo is not null && !HuggingFaceHub.IsRepositoryId(repo))
                result.AddError($"--hf takes a repo id such as meta-llama/Llama-2-7b-chat-hf, not '{repo}'");
        });
        var revision = new Option<string>("--revision")
        {
            Description = "with --hf: the branch, tag or commit",
            HelpName = "rev",
            DefaultValueFactory = _ => "main",
        };
        var files = new Option<string[]>("--file")
        {
            Description = "with --hf: fetch only this file of the repo (repeat for more), e.g. one .gguf of a GGUF repo",
            HelpName = "name",
            AllowMultipleArgumentsPerToken = false,
        };

        var command = new Command("download", """
            Downloads a checkpoint (and, for the named models, tokenizer.bin) into the folder, or a Hugging Face model repo's
            files (--hf), resuming an interrupted download and checking sizes and SHA-256 when they are known. Nothing is
            left under a final name unless it is complete; Ctrl+C keeps the partial file, and the same command resumes it.
            """)
        {
            model, dir, sha256, hf, revision, files,
        };
        command.Validators.Add(result =>
        {
            bool fromHub = result.GetValue(hf) is not null;
            if (fromHub == (result.GetValue(model) is not null))
                result.AddError(fromHub ? "give either a model or --hf, not both" : $"give a model ({known}, or a URL) or --hf REPO");
            else if (fromHub && result.GetValue(sha256) is not null)
                result.AddError("--sha256 is for a model or URL; with --hf the hub gives each file's checksum");
            else if (!fromHub && (result.GetResult(revision) is { Implicit: false } || result.GetValue(files) is { Length: > 0 }))
                result.AddError("--revision and --file go with --hf");
        });
        command.SetAction((parsed, cancellationToken) => parsed.GetValue(hf) is { } repo
            ? RunHuggingFaceAsync(repo, parsed.GetRequiredValue(revision), parsed.GetValue(files) ?? [], parsed.GetRequiredValue(dir), cancellationToken)
            : RunAsync(Sources(parsed.GetValue(model)!, parsed.GetRequiredValue(dir), parsed.GetValue(sha256)), cancellationToken));
        return command;
    }

    static bool IsHttpUrl(string what, out Uri url) =>
        Uri.TryCreate(what, UriKind.Absolute, out url!) && url.Scheme is "http" or "https";

    /// <summary>What to fetch and where to: a known model and the tokenizer, or the file at a URL.</summary>
    static List<(ModelSource Source, string Path)> Sources(string what, string dir, string? sha256)
    {
        if (ModelSource.KnownModels.TryGetValue(what, out var known))
            return [(known with { Sha256 = sha256 }, Path.Combine(dir, what + ".bin")), (ModelSource.Tokenizer, Path.Combine(dir, "tokenizer.bin"))];
        IsHttpUrl(what, out var url); // the argument's validator has refused anything else
        return [(new ModelSource(url, Sha256: sha256), Path.Combine(dir, Path.GetFileName(url.LocalPath) is { Length: > 0 } n ? n : "model.bin"))];
    }

    static async Task<int> RunAsync(List<(ModelSource Source, string Path)> downloads, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        return await FetchAllAsync(new FileDownloader(http) { ProgressInterval = TimeSpan.FromMilliseconds(200) }, downloads,
            e => e.Message, cancellationToken);
    }

    /// <summary>
    /// A Hugging Face repo into DIR/NAME: the files named with --file, or else config.json, the shard index and
    /// tokenizer.model, then the weights the index lists (or model.safetensors).
    /// </summary>
    static async Task<int> RunHuggingFaceAsync(string repoId, string revision, string[] files, string dir, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        try
        {
            var hub = HuggingFaceHub.FromEnvironment(http);
            var repo = await hub.GetRepositoryAsync(repoId, revision, cancellationToken);
            string folder = Path.Combine(dir, repoId.Split('/')[^1]);
            var downloader = new FileDownloader(http) { ProgressInterval = TimeSpan.FromMilliseconds(200), Authorization = hub.Authorization };
            List<(ModelSource, string)> Plan(IEnumerable<HubFile> chosen) =>
                chosen.Select(f => (hub.Source(repo, f), HuggingFaceHub.LocalPath(folder, f.Name))).ToList();
            Console.Error.WriteLine($"{repoId} at {revision} (commit {repo.Commit}) into {folder}");

            if (files.Length > 0)
            {
                var missing = files.Where(f => repo.Find(f) is null).ToList();
                if (missing.Count > 0)
                    return Fail($"{repoId} has no {string.Join(", ", missing)}; it has {string.Join(", ", repo.Files.Select(f => f.Name))}");
                return await FetchAllAsync(downloader, Plan(files.Select(f => repo.Find(f)!)), e => hub.Explain(repo, e), cancellationToken);
            }

            var metadata = HuggingFaceHub.ModelMetadataFiles(repo);
            int exit = await FetchAllAsync(downloader, Plan(metadata), e => hub.Explain(repo, e), cancellationToken);
            if (exit != 0) return exit;
            string? index = metadata.Any(f => f.Name == HuggingFaceModel.IndexFile) ? Path.Combine(folder, HuggingFaceModel.IndexFile) : null;
            exit = await FetchAllAsync(downloader, Plan(HuggingFaceHub.ModelWeightFiles(repo, index)), e => hub.Explain(repo, e), cancellationToken);
            if (exit != 0) return exit;

            if (!metadata.Any(f => f.Name == HuggingFaceModel.TokenizerFile))
                Console.Error.WriteLine($"warning: {repoId} has no {HuggingFaceModel.TokenizerFile}; convert will write no tokenizer.bin");
            Console.Error.WriteLine($"saved {folder}; make a checkpoint of it with: Llama2.Cli convert {folder} {repoId.Split('/')[^1]}.bin");
            return 0;
        }
        catch (DownloadException e)
        {
            return Fail(e.Message);
        }
        catch (CheckpointFormatException e)
        {
            return Fail(e.Message);
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("cancelled; run the same command again to resume");
            return 130;
        }
    }

    /// <summary>
    /// Fetches each file in turn with a progress bar. A file already there is kept (when its size is known it must be
    /// right); <paramref name="explain"/> words a failure.
    /// </summary>
    static async Task<int> FetchAllAsync(FileDownloader downloader, List<(ModelSource Source, string Path)> downloads,
        Func<DownloadException, string> explain, CancellationToken cancellationToken)
    {
        foreach (var (source, path) in downloads)
        {
            if (File.Exists(path))
            {
                long size = new FileInfo(path).Length;
                if (source.ExpectedBytes is { } expected && size != expected)
                    return Fail($"{path} is there but is {size} bytes, not the {expected} of {source.Url}; remove it to fetch it again");
                Console.Error.WriteLine($"{path} is already there");
                continue;
            }
            var bar = ProgressBar.OnStandardError();
            try
            {
                await downloader.DownloadAsync(source, path, bar.For<DownloadProgress>(p => (p.Fraction, p.ToString())), cancellationToken);
                bar.Complete();
                Console.Error.WriteLine($"saved {path}");
            }
            catch (DownloadException e)
            {
                bar.Complete();
                return Fail(explain(e));
            }
            catch (OperationCanceledException)
            {
                bar.Complete();
                Console.Error.WriteLine($"cancelled; run the same command again to resume ({FileDownloader.PartialPath(path)} is kept)");
                return 130;
            }
        }
        return 0;
    }

    static int Fail(string message)
    {
        Console.Error.WriteLine($"error: {message}");
        return 1;
    }
}

using System.Text.Json;
using System.Text.Json.Serialization;

namespace Llama2.Training.Data;

/// <summary>
/// A pretokenized corpus: a folder holding <c>train.bin</c> and <c>val.bin</c> (token files, see
/// <see cref="TokenDataType"/>: each document is BOS (1) then its tokens as run.c encodes it, documents one after
/// another) and this description, <c>dataset.json</c>, for example:
/// <code>
/// {
///   "format": "llama2-tokens", "version": 1,
///   "vocab_size": 4096, "data_type": "uint16", "bos_id": 1,
///   "tokenizer": "/data/tok4096.bin", "tokenizer_sha256": "3f5c…",
///   "document_split": "lines", "validation_fraction": 0.1, "seed": 1,
///   "source_files": 1, "source_bytes": 4137850,
///   "train": { "file": "train.bin", "documents": 27961, "tokens": 933905 },
///   "validation": { "file": "val.bin", "documents": 3141, "tokens": 102807 }
/// }
/// </code>
/// </summary>
public sealed record TokenDataset
{
    public const string DescriptionFileName = "dataset.json";
    public const string FormatName = "llama2-tokens";
    public const int CurrentVersion = 1;

    static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        WriteIndented = true,
    };

    public string Format { get; init; } = FormatName;
    public int Version { get; init; } = CurrentVersion;
    public required int VocabSize { get; init; }
    public required TokenDataType DataType { get; init; }
    public int BosId { get; init; } = 1;
    /// <summary>The tokenizer.bin the tokens come from (full path when written) and its SHA-256 in hex.</summary>
    public required string Tokenizer { get; init; }
    public required string TokenizerSha256 { get; init; }
    /// <summary>How plain-text files were cut into documents (.jsonl and .json records are one document each).</summary>
    public required DocumentSplit DocumentSplit { get; init; }
    public required double ValidationFraction { get; init; }
    public required int Seed { get; init; }
    public required int SourceFiles { get; init; }
    public required long SourceBytes { get; init; }
    public required TokenSplit Train { get; init; }
    public required TokenSplit Validation { get; init; }

    /// <summary>Reads <c>dataset.json</c> from a folder written by <see cref="Pretokenizer"/>.</summary>
    public static TokenDataset Load(string directory)
    {
        var path = Path.Combine(directory, DescriptionFileName);
        if (!File.Exists(path)) throw new TrainingDataException($"'{directory}' holds no {DescriptionFileName}: pretokenize the text into it first");
        TokenDataset? dataset;
        try { dataset = JsonSerializer.Deserialize<TokenDataset>(File.ReadAllText(path), Json); }
        catch (JsonException e) { throw new TrainingDataException($"{path}: not a token dataset description ({e.Message})", e); }
        if (dataset is null || dataset.Format != FormatName || dataset.Version != CurrentVersion)
            throw new TrainingDataException($"{path}: not a {FormatName} version {CurrentVersion} description");
        return dataset;
    }

    public void Save(string directory)
    {
        var path = Path.Combine(directory, DescriptionFileName);
        File.WriteAllText(path + ".partial", JsonSerializer.Serialize(this, Json));
        File.Move(path + ".partial", path, overwrite: true);
    }

    /// <summary>The path of a split's token file, which lies next to <c>dataset.json</c> in <paramref name="directory"/>.</summary>
    public static string PathOf(string directory, TokenSplit split) => Path.Combine(directory, split.File);
}

/// <summary>One token file of a dataset: its name in the dataset's folder, documents and tokens (BOS included).</summary>
public sealed record TokenSplit(string File, long Documents, long Tokens);

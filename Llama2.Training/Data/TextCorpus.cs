using System.Text;
using System.Text.Json;

namespace Llama2.Training.Data;

/// <summary>How a plain-text file is cut into documents (each document is encoded with BOS before it).</summary>
public enum DocumentSplit
{
    /// <summary>Paragraphs: runs of lines separated by blank (empty or white-space-only) lines, joined by "\n".</summary>
    Paragraphs,
    /// <summary>Each line is a document (e.g. one verse or one story per line).</summary>
    Lines,
    /// <summary>Each file is one document.</summary>
    Files,
}

/// <summary>A document and how far into the corpus (bytes, over all files) reading has come.</summary>
public readonly record struct CorpusDocument(string Text, long Position);

/// <summary>
/// The text files training reads, in a fixed order, and the documents in them, read as a stream.
/// <para>
/// Inputs are files or folders. A folder contributes its <c>.txt</c>, <c>.text</c>, <c>.md</c>, <c>.jsonl</c> and
/// <c>.json</c> files, recursively, skipping hidden ones (a name starting with "."), in ordinal order of their paths;
/// a file named directly is read whatever its extension. <c>.jsonl</c> files hold one JSON object per line and
/// <c>.json</c> files an array of objects (as TinyStories' shards); each object is one document, its <c>text</c> field
/// or else its <c>story</c> field. Other files are UTF-8 text (a byte-order mark is skipped, invalid bytes read as
/// U+FFFD) cut into documents by <see cref="Split"/>. Every document is trimmed of white space at both ends, as
/// llama2.c's tinystories.py strips stories, and empty ones are skipped.
/// </para>
/// </summary>
public sealed class TextCorpus
{
    static readonly string[] FolderExtensions = [".txt", ".text", ".md", ".jsonl", ".json"];

    TextCorpus(IReadOnlyList<string> files, DocumentSplit split)
    {
        Files = files;
        Split = split;
        TotalBytes = files.Sum(f => new FileInfo(f).Length);
    }

    public IReadOnlyList<string> Files { get; }

    public DocumentSplit Split { get; }

    /// <summary>The size of all files.</summary>
    public long TotalBytes { get; }

    /// <summary>Lists the files of <paramref name="inputs"/>; fails if one does not exist or there are none.</summary>
    public static TextCorpus Open(IEnumerable<string> inputs, DocumentSplit split = DocumentSplit.Paragraphs)
    {
        var files = new List<string>();
        foreach (var input in inputs)
        {
            if (File.Exists(input)) files.Add(Path.GetFullPath(input));
            else if (Directory.Exists(input))
                files.AddRange(Directory.EnumerateFiles(input, "*", new EnumerationOptions
                    {
                        RecurseSubdirectories = true,
                        AttributesToSkip = FileAttributes.Hidden | FileAttributes.System,
                    })
                    .Where(f => FolderExtensions.Contains(Path.GetExtension(f), StringComparer.OrdinalIgnoreCase)
                        && !Path.GetRelativePath(input, f).Split(Path.DirectorySeparatorChar).Any(part => part.StartsWith('.')))
                    .Select(Path.GetFullPath)
                    .Order(StringComparer.Ordinal));
            else throw new TrainingDataException($"input '{input}' is neither a file nor a folder");
        }
        if (files.Count == 0)
            throw new TrainingDataException("no input files: give text files, .jsonl or .json files, or folders holding them");
        return new TextCorpus(files, split);
    }

    /// <summary>Reads the documents of every file in order, without holding more than one file's document at a time.</summary>
    public IEnumerable<CorpusDocument> ReadDocuments(CancellationToken cancellationToken = default)
    {
        long before = 0;
        foreach (var file in Files)
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            var extension = Path.GetExtension(file);
            var documents =
                extension.Equals(".jsonl", StringComparison.OrdinalIgnoreCase) ? JsonLines(file, stream)
                : extension.Equals(".json", StringComparison.OrdinalIgnoreCase) ? JsonArray(file, stream, cancellationToken)
                : PlainText(stream);
            foreach (var text in documents)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var document = text.Trim();
                if (document.Length > 0) yield return new CorpusDocument(document, before + stream.Position);
            }
            before += stream.Length;
        }
    }

    IEnumerable<string> PlainText(Stream stream)
    {
        using var reader = new StreamReader(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: true, leaveOpen: true);
        switch (Split)
        {
            case DocumentSplit.Files:
                yield return reader.ReadToEnd();
                break;
            case DocumentSplit.Lines:
                while (reader.ReadLine() is { } line) yield return line;
                break;
            default:
                var paragraph = new StringBuilder();
                while (reader.ReadLine() is { } line)
                {
                    if (string.IsNullOrWhiteSpace(line))
                    {
                        if (paragraph.Length > 0) yield return paragraph.ToString();
                        paragraph.Clear();
                    }
                    else (paragraph.Length > 0 ? paragraph.Append('\n') : paragraph).Append(line);
                }
                if (paragraph.Length > 0) yield return paragraph.ToString();
                break;
        }
    }

    static IEnumerable<string> JsonLines(string file, Stream stream)
    {
        using var reader = new StreamReader(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: true, leaveOpen: true);
        int lineNumber = 0;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonDocument json;
            try { json = JsonDocument.Parse(line); }
            catch (JsonException e) { throw new TrainingDataException($"{file}:{lineNumber}: not a JSON object ({e.Message})", e); }
            using (json) yield return DocumentText(json.RootElement, $"{file}:{lineNumber}");
        }
    }

    static IEnumerable<string> JsonArray(string file, Stream stream, CancellationToken cancellationToken)
    {
        using var items = JsonSerializer.DeserializeAsyncEnumerable<JsonElement>(stream, cancellationToken: cancellationToken)
            .ToBlockingEnumerable(cancellationToken).GetEnumerator();
        for (int index = 0; ; index++)
        {
            try
            {
                if (!items.MoveNext()) yield break;
            }
            catch (JsonException e)
            {
                throw new TrainingDataException($"{file}: not a JSON array of objects with a \"text\" or \"story\" field ({e.Message})", e);
            }
            yield return DocumentText(items.Current, $"{file}: item {index}");
        }
    }

    /// <summary>The <c>text</c> field of a record, else its <c>story</c> field (TinyStories).</summary>
    static string DocumentText(JsonElement record, string where) =>
        record.ValueKind == JsonValueKind.Object
        && (record.TryGetProperty("text", out var text) || record.TryGetProperty("story", out text))
        && text.ValueKind == JsonValueKind.String
            ? text.GetString()!
            : throw new TrainingDataException($"{where}: expected a JSON object with a \"text\" or \"story\" string field");
}

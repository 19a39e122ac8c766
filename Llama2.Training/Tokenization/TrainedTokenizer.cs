using System.Buffers.Binary;
using System.Text;

namespace Llama2.Training.Tokenization;

/// <summary>
/// A trained vocabulary in the layout of a llama2.c tokenizer made by SentencePiece BPE: id 0 <c>&lt;unk&gt;</c>,
/// 1 BOS, 2 EOS, 3..258 the byte tokens <c>&lt;0x00&gt;</c>..<c>&lt;0xFF&gt;</c>, then the learned pieces in the
/// order they were learned (scores 0, −1, −2, …), then the alphabet's single characters, most frequent first (scores
/// continuing downwards). Spaces are stored as spaces (SentencePiece's "▁" already replaced, as llama2.c's export does).
/// </summary>
public sealed class TrainedTokenizer
{
    /// <summary>Ids 0, 1 and 2 are &lt;unk&gt;, BOS and EOS (the engine's <c>Tokenizer.Bos</c>, <c>Tokenizer.Eos</c>).</summary>
    public const int FirstByteId = 3;
    public const int FirstLearnedId = FirstByteId + 256;
    /// <summary>Scores −rank stay exact in float32 far beyond this.</summary>
    public const int MaxVocabSize = 1 << 20;

    readonly Dictionary<string, int[]> _stretchTokens;

    internal TrainedTokenizer(IReadOnlyList<string> pieces, IReadOnlyList<float> scores, int mergeCount,
        Dictionary<string, int[]> stretchTokens, TokenizerTrainingSummary summary)
    {
        Pieces = pieces;
        Scores = scores;
        MergeCount = mergeCount;
        _stretchTokens = stretchTokens;
        Summary = summary;
    }

    /// <summary>Each token's text as written to tokenizer.bin (BOS and EOS as llama2.c writes them: "\n&lt;s&gt;\n", "\n&lt;/s&gt;\n").</summary>
    public IReadOnlyList<string> Pieces { get; }

    public IReadOnlyList<float> Scores { get; }

    public int VocabSize => Pieces.Count;

    /// <summary>Learned pieces, at ids <see cref="FirstLearnedId"/> onwards.</summary>
    public int MergeCount { get; }

    /// <summary>Single-character pieces, after the learned ones.</summary>
    public int AlphabetSize => VocabSize - FirstLearnedId - MergeCount;

    /// <summary>What the training text was, and how the vocabulary encodes it.</summary>
    public TokenizerTrainingSummary Summary { get; }

    /// <summary>
    /// Writes llama2.c's tokenizer.bin: int32 max_token_length, then per token float32 score, int32 byte length and
    /// the UTF-8 bytes (little-endian). The file appears whole or not at all.
    /// </summary>
    public void Save(string path)
    {
        var temporary = path + ".partial";
        try
        {
            using (var file = File.Create(temporary)) WriteTo(file);
            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    public void WriteTo(Stream stream)
    {
        var bytes = Pieces.Select(Encoding.UTF8.GetBytes).ToArray();
        using var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        writer.Write(bytes.Max(b => b.Length));
        Span<byte> header = stackalloc byte[8];
        for (int i = 0; i < bytes.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(header, Scores[i]);
            BinaryPrimitives.WriteInt32LittleEndian(header[4..], bytes[i].Length);
            writer.Write(header);
            writer.Write(bytes[i]);
        }
    }

    /// <summary>
    /// The trainer's own segmentation of a training document (no BOS): the tokens of its stretches (see
    /// <see cref="Stretches"/>, dummy-prefix space included) as they stood after the last merge. Only stretches of
    /// the training text that took part in training are known.
    /// </summary>
    internal List<int> Segment(string document)
    {
        var tokens = new List<int>();
        foreach (var stretch in Stretches.Of(document))
            tokens.AddRange(_stretchTokens.TryGetValue(stretch.ToString(), out var ids)
                ? ids
                : throw new ArgumentException($"'{stretch}' is not a stretch the tokenizer was trained on", nameof(document)));
        return tokens;
    }
}

/// <summary>
/// The training text in figures: documents and their UTF-8 bytes; words (as SentencePiece splits them: spaces and the
/// characters up to the next space); the distinct stretches training worked on (see <see cref="Stretches"/>);
/// stretches longer than <see cref="TokenizerTrainer.MaxStretchLength"/> characters left out of learning merges and
/// their bytes; and the tokens the trained vocabulary encodes the rest into (no BOS, each document's dummy-prefix
/// space included, as run.c encodes).
/// </summary>
public sealed record TokenizerTrainingSummary(long Documents, long TextBytes, long Words, long DistinctStretches,
    long DistinctCharacters, long SkippedStretches, long SkippedBytes, long Tokens)
{
    /// <summary>UTF-8 bytes of text per token, over the text trained on.</summary>
    public double BytesPerToken => Tokens == 0 ? 0 : (double)(TextBytes - SkippedBytes) / Tokens;
}

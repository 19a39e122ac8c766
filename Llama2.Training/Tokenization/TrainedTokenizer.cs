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
    public const int Unknown = 0, Bos = 1, Eos = 2;
    public const int FirstByteId = 3;
    public const int FirstLearnedId = FirstByteId + 256;
    /// <summary>Scores −rank stay exact in float32 far beyond this.</summary>
    public const int MaxVocabSize = 1 << 20;

    readonly Dictionary<string, int[]> _wordTokens;

    internal TrainedTokenizer(IReadOnlyList<string> pieces, IReadOnlyList<float> scores, int mergeCount,
        Dictionary<string, int[]> wordTokens, TokenizerTrainingSummary summary)
    {
        Pieces = pieces;
        Scores = scores;
        MergeCount = mergeCount;
        _wordTokens = wordTokens;
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
        using (var file = File.Create(temporary)) WriteTo(file);
        File.Move(temporary, path, overwrite: true);
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
    /// The trainer's own segmentation of a training document (no BOS): its dummy-prefixed words' tokens as they
    /// stood after the last merge. Only words of the training text are known.
    /// </summary>
    internal List<int> Segment(string document)
    {
        var tokens = new List<int>();
        foreach (var word in Words.Split(Words.WithDummyPrefix(document)))
            tokens.AddRange(_wordTokens.TryGetValue(word.ToString(), out var ids)
                ? ids
                : throw new ArgumentException($"'{word}' is not a word of the training text", nameof(document)));
        return tokens;
    }
}

/// <summary>
/// The training text in figures: documents, their UTF-8 bytes, words (as SentencePiece splits them: a space and the
/// characters up to the next one), and the tokens the trained vocabulary encodes the text into (no BOS, the
/// dummy-prefix space of each document included, as run.c encodes).
/// </summary>
public sealed record TokenizerTrainingSummary(long Documents, long TextBytes, long Words, long DistinctWords, long DistinctCharacters, long Tokens)
{
    /// <summary>UTF-8 bytes of text per token.</summary>
    public double BytesPerToken => Tokens == 0 ? 0 : (double)TextBytes / Tokens;
}

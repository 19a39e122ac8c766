using System.Buffers.Binary;
using System.Text;
using Llama2.Engine.Tokenization;

namespace Llama2.Engine.Formats;

/// <summary>What a vocabulary entry is, with SentencePiece's numbers (GGUF's token_type uses the same).</summary>
public enum PieceType
{
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

/// <summary>
/// A SentencePiece-style vocabulary as a model file stores it (tokenizer.model, or a GGUF file's tokenizer.ggml.*):
/// per token its piece, with ▁ (U+2581) for a space, its score and its type; and the ids of BOS and EOS.
/// <see cref="ToTokenizerBin"/> writes llama2.c's tokenizer.bin from it exactly as llama2.c's tokenizer.py does.
/// </summary>
public sealed class Vocabulary
{
    const char SentencePieceSpace = '\u2581';

    public Vocabulary(string source, IReadOnlyList<string> pieces, IReadOnlyList<float> scores, IReadOnlyList<PieceType> types,
        int bosId, int eosId, bool mergesByScore)
    {
        if (scores.Count != pieces.Count || types.Count != pieces.Count)
            throw new ArgumentException("pieces, scores and types differ in length");
        Source = source;
        Pieces = pieces;
        Scores = scores;
        Types = types;
        BosId = bosId;
        EosId = eosId;
        MergesByScore = mergesByScore;
    }

    /// <summary>The file it was read from.</summary>
    public string Source { get; }
    public IReadOnlyList<string> Pieces { get; }
    public IReadOnlyList<float> Scores { get; }
    public IReadOnlyList<PieceType> Types { get; }
    public int BosId { get; }
    public int EosId { get; }
    /// <summary>
    /// Whether text is encoded by merging the best-scoring pair of pieces, as SentencePiece's BPE models and run.c do
    /// (a Unigram model segments differently, so run.c's encoder would not reproduce it).
    /// </summary>
    public bool MergesByScore { get; }
    public int Count => Pieces.Count;

    /// <summary>
    /// Why the engine's tokenizer (run.c's: BOS 1, EOS 2, byte tokens &lt;0x00&gt;..&lt;0xFF&gt; at 3..258, merges
    /// by score) cannot stand for this vocabulary with a model of <paramref name="modelVocabSize"/> tokens; null when it can.
    /// </summary>
    public string? Llama2cProblem(int modelVocabSize)
    {
        if (Count != modelVocabSize)
            return $"the vocabulary has {Count} tokens but the model's embedding has {modelVocabSize} rows";
        if (!MergesByScore)
            return "it is not a byte-pair (merge by score) vocabulary, which is what the engine's tokenizer encodes with";
        if (BosId != Tokenizer.Bos || EosId != Tokenizer.Eos)
            return $"BOS and EOS are tokens {BosId} and {EosId}; the engine's tokenizer has them at {Tokenizer.Bos} and {Tokenizer.Eos}";
        for (int b = 0; b < 256; b++)
            if (Count <= 3 + b || Pieces[3 + b] != $"<0x{b:X2}>")
                return $"token {3 + b} is not the byte token <0x{b:X2}>; the engine's tokenizer expects the 256 byte tokens at 3..258";
        return null;
    }

    /// <summary>
    /// llama2.c's tokenizer.bin, as tokenizer.py's export writes it: the longest piece's byte count (uint32), then per
    /// token its score (float32), its byte count (uint32) and its UTF-8 bytes, ▁ turned into a space and BOS and EOS
    /// written as "\n&lt;s&gt;\n" and "\n&lt;/s&gt;\n".
    /// </summary>
    public byte[] ToTokenizerBin()
    {
        var bytes = new byte[Count][];
        for (int i = 0; i < Count; i++)
        {
            string piece = i == BosId ? "\n<s>\n" : i == EosId ? "\n</s>\n" : Pieces[i];
            bytes[i] = Encoding.UTF8.GetBytes(piece.Replace(SentencePieceSpace, ' '));
        }
        using var output = new MemoryStream();
        Span<byte> number = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(number, (uint)bytes.Max(b => b.Length));
        output.Write(number);
        for (int i = 0; i < Count; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(number, Scores[i]);
            output.Write(number);
            BinaryPrimitives.WriteUInt32LittleEndian(number, (uint)bytes[i].Length);
            output.Write(number);
            output.Write(bytes[i]);
        }
        return output.ToArray();
    }
}

using System.Buffers.Binary;
using System.Text;
using Llama2.Engine.Model;

namespace Llama2.Engine.Tokenization;

/// <summary>
/// The SentencePiece-style byte-pair tokenizer of llama2.c (<c>tokenizer.bin</c>): per token a score and the raw
/// bytes of its piece. Encoding and decoding follow run.c exactly.
/// </summary>
public sealed class Tokenizer
{
    public const int Bos = 1;
    public const int Eos = 2;
    /// <summary>Byte-fallback tokens &lt;0x00&gt;..&lt;0xFF&gt; are ids 3..258.</summary>
    const int ByteTokenOffset = 3;

    readonly byte[][] _pieces;
    readonly float[] _scores;
    // Pieces keyed by their bytes read as Latin-1: a lossless one char per byte mapping, so any byte string is a key.
    readonly Dictionary<string, int> _ids;
    readonly string[] _keys;

    Tokenizer(byte[][] pieces, float[] scores, int maxTokenLength)
    {
        _pieces = pieces;
        _scores = scores;
        MaxTokenLength = maxTokenLength;
        _keys = new string[pieces.Length];
        _ids = new Dictionary<string, int>(pieces.Length, StringComparer.Ordinal);
        for (int i = 0; i < pieces.Length; i++)
        {
            _keys[i] = Encoding.Latin1.GetString(pieces[i]);
            _ids.TryAdd(_keys[i], i);
        }
    }

    public int VocabSize => _pieces.Length;
    public int MaxTokenLength { get; }

    /// <summary>
    /// Loads <c>tokenizer.bin</c>. With <paramref name="vocabSize"/> (the model's), reads exactly that many tokens
    /// and fails if the file has fewer; without it, reads every token in the file.
    /// </summary>
    public static Tokenizer Load(string path, int? vocabSize = null)
    {
        if (!File.Exists(path)) throw new CheckpointFormatException(path, "tokenizer file not found");
        return Parse(File.ReadAllBytes(path), path, vocabSize);
    }

    /// <summary>
    /// The tokenizer of a vocabulary stored with a model (a Hugging Face folder's tokenizer.model, a GGUF file's
    /// tokenizer.ggml.*), through the tokenizer.bin that llama2.c's tokenizer.py would write for it; a vocabulary run.c's
    /// tokenizer cannot stand for is a <see cref="CheckpointFormatException"/> naming <paramref name="modelPath"/>.
    /// </summary>
    public static Tokenizer FromVocabulary(Formats.Vocabulary vocabulary, int vocabSize, string modelPath)
    {
        if (vocabulary.Llama2cProblem(vocabSize) is { } problem)
            throw new CheckpointFormatException(modelPath, $"its vocabulary ({vocabulary.Source}) cannot be used: {problem}; give a tokenizer.bin");
        return Parse(vocabulary.ToTokenizerBin(), vocabulary.Source, vocabSize);
    }

    /// <summary>A tokenizer.bin's bytes; <paramref name="path"/> names them in errors.</summary>
    static Tokenizer Parse(byte[] bytes, string path, int? vocabSize)
    {
        if (bytes.Length < 4) throw new CheckpointFormatException(path, $"file is {bytes.Length} bytes, too short for a tokenizer");
        int maxTokenLength = BinaryPrimitives.ReadInt32LittleEndian(bytes);
        if (maxTokenLength <= 0 || maxTokenLength > 1 << 16)
            throw new CheckpointFormatException(path, $"max_token_length {maxTokenLength} is out of range; this is not a llama2.c tokenizer.bin");

        var pieces = new List<byte[]>(vocabSize ?? 32000);
        var scores = new List<float>(vocabSize ?? 32000);
        int offset = 4;
        while (offset < bytes.Length && (vocabSize is null || pieces.Count < vocabSize))
        {
            if (bytes.Length - offset < 8)
                throw new CheckpointFormatException(path, $"token {pieces.Count} is truncated at byte {offset}");
            float score = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(offset));
            int length = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(offset + 4));
            offset += 8;
            if (length < 0 || length > bytes.Length - offset)
                throw new CheckpointFormatException(path, $"token {pieces.Count} has length {length}, past the end of the file");
            pieces.Add(bytes.AsSpan(offset, length).ToArray());
            scores.Add(score);
            offset += length;
        }
        if (vocabSize is { } expected && pieces.Count < expected)
            throw new CheckpointFormatException(path,
                $"tokenizer has {pieces.Count} tokens but the model's vocabulary has {expected}; they do not belong together");
        if (pieces.Count <= ByteTokenOffset + 255)
            throw new CheckpointFormatException(path, $"tokenizer has only {pieces.Count} tokens; a llama2.c vocabulary has at least 259");
        return new Tokenizer([.. pieces], [.. scores], maxTokenLength);
    }

    /// <summary>The raw bytes of a token's piece, as stored (a leading space is part of it).</summary>
    public ReadOnlySpan<byte> Piece(int token) => _pieces[token];

    /// <summary>Whether a token is a control token rather than text (BOS, EOS, unknown).</summary>
    public bool IsSpecial(int token) => token is 0 or Bos or Eos;

    /// <summary>How a control token is written where tokens are listed: &lt;unk&gt;, &lt;s&gt;, &lt;/s&gt;.</summary>
    public static string SpecialName(int token) => token switch
    {
        Bos => "<s>",
        Eos => "</s>",
        _ => "<unk>",
    };

    /// <summary>
    /// Encodes text exactly as run.c's <c>encode</c>: a dummy-prefix space, whole UTF-8 code points looked up
    /// (byte fallback for unknown ones), then greedy merges of the best-scoring adjacent pair.
    /// </summary>
    public List<int> Encode(string text, bool bos, bool eos)
    {
        var tokens = new List<int>(text.Length + 3);
        if (bos) tokens.Add(Bos);
        if (text.Length > 0 && _ids.TryGetValue(" ", out int dummyPrefix)) tokens.Add(dummyPrefix);

        // One token per code point (or per byte where the code point has no token).
        var utf8 = Encoding.UTF8.GetBytes(text);
        for (int start = 0; start < utf8.Length;)
        {
            int end = start + 1;
            while (end < utf8.Length && (utf8[end] & 0xC0) == 0x80 && end - start < 4) end++;
            if (_ids.TryGetValue(Encoding.Latin1.GetString(utf8, start, end - start), out int id))
                tokens.Add(id);
            else
                for (int i = start; i < end; i++) tokens.Add(utf8[i] + ByteTokenOffset);
            start = end;
        }

        MergePairs(tokens);
        if (eos) tokens.Add(Eos);
        return tokens;
    }

    /// <summary>
    /// Repeatedly merges the adjacent pair whose merged piece scores highest (the first such pair on ties), as run.c.
    /// Each pair's merge is looked up once and only the two pairs next to a merge are looked up again.
    /// </summary>
    void MergePairs(List<int> tokens)
    {
        var mergedId = new List<int>(tokens.Count);
        for (int i = 0; i + 1 < tokens.Count; i++) mergedId.Add(MergeOf(tokens[i], tokens[i + 1]));

        while (true)
        {
            float bestScore = float.NegativeInfinity;
            int best = -1;
            for (int i = 0; i < mergedId.Count; i++)
                if (mergedId[i] >= 0 && _scores[mergedId[i]] > bestScore)
                {
                    bestScore = _scores[mergedId[i]];
                    best = i;
                }
            if (best < 0) return;

            tokens[best] = mergedId[best];
            tokens.RemoveAt(best + 1);
            mergedId.RemoveAt(best);
            if (best > 0) mergedId[best - 1] = MergeOf(tokens[best - 1], tokens[best]);
            if (best < mergedId.Count) mergedId[best] = MergeOf(tokens[best], tokens[best + 1]);
        }
    }

    /// <summary>The token whose piece is the two pieces joined, or −1.</summary>
    int MergeOf(int left, int right) =>
        _ids.TryGetValue(string.Concat(_keys[left], _keys[right]), out int merged) ? merged : -1;

    /// <summary>
    /// The bytes that <paramref name="token"/> stands for when it follows <paramref name="previous"/>, as run.c's
    /// <c>decode</c>: the leading space of a piece right after BOS is dropped, and &lt;0xXX&gt; pieces are raw bytes.
    /// </summary>
    public ReadOnlySpan<byte> Decode(int previous, int token)
    {
        var piece = Piece(token);
        if (previous == Bos && piece.Length > 0 && piece[0] == (byte)' ') piece = piece[1..];
        return TryParseByteToken(piece, out byte value) ? AllBytes.AsSpan(value, 1) : piece;
    }

    static readonly byte[] AllBytes = Enumerable.Range(0, 256).Select(b => (byte)b).ToArray();

    /// <summary>run.c's <c>sscanf(piece, "&lt;0x%02hhX&gt;", ...)</c>: "&lt;0x" then one or two hex digits.</summary>
    static bool TryParseByteToken(ReadOnlySpan<byte> piece, out byte value)
    {
        value = 0;
        if (piece.Length < 4 || piece[0] != '<' || piece[1] != '0' || piece[2] != 'x') return false;
        int v = 0, digits = 0;
        for (int i = 3; i < piece.Length && digits < 2; i++, digits++)
        {
            int d = HexDigit(piece[i]);
            if (d < 0) break;
            v = v * 16 + d;
        }
        if (digits == 0) return false;
        value = (byte)v;
        return true;
    }

    static int HexDigit(byte c) => c switch
    {
        >= (byte)'0' and <= (byte)'9' => c - '0',
        >= (byte)'a' and <= (byte)'f' => c - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => c - 'A' + 10,
        _ => -1,
    };

    /// <summary>Decodes a whole sequence to text (the first token is treated as following BOS when it is BOS).</summary>
    public string DecodeAll(IEnumerable<int> tokens, int previous = Bos)
    {
        var text = new Utf8TextAssembler();
        var sb = new StringBuilder();
        foreach (int token in tokens)
        {
            sb.Append(text.Append(Decode(previous, token)));
            previous = token;
        }
        sb.Append(text.Flush());
        return sb.ToString();
    }
}

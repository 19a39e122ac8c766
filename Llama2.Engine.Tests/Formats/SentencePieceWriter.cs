using System.Text;
using Llama2.Engine.Formats;

namespace Llama2.Engine.Tests.Formats;

/// <summary>
/// Writes a SentencePiece tokenizer.model (a ModelProto in Protocol Buffers' wire format) for the tests: the pieces
/// with score and type, and a trainer spec with the model type and the special ids.
/// </summary>
public static class SentencePieceWriter
{
    public const int Unigram = 1, Bpe = 2;

    public static void Write(string path, IReadOnlyList<(string Piece, float Score, PieceType Type)> pieces,
        int modelType = Bpe, int bosId = 1, int eosId = 2)
    {
        using var model = new MemoryStream();
        foreach (var (piece, score, type) in pieces)
        {
            using var entry = new MemoryStream();
            Tag(entry, 1, 2);
            Bytes(entry, Encoding.UTF8.GetBytes(piece));
            Tag(entry, 2, 5);
            entry.Write(BitConverter.GetBytes(score));
            if (type != PieceType.Normal)
            {
                Tag(entry, 3, 0);
                Varint(entry, (ulong)type);
            }
            Tag(model, 1, 2);
            Bytes(model, entry.ToArray());
        }
        using var spec = new MemoryStream();
        Tag(spec, 3, 0);
        Varint(spec, (ulong)modelType);
        Tag(spec, 4, 0);
        Varint(spec, (ulong)pieces.Count);
        Tag(spec, 35, 0); // byte_fallback
        Varint(spec, 1);
        Tag(spec, 41, 0);
        Varint(spec, (ulong)(long)bosId);
        Tag(spec, 42, 0);
        Varint(spec, (ulong)(long)eosId);
        Tag(spec, 43, 0); // pad_id = -1: ten bytes on the wire
        Varint(spec, unchecked((ulong)-1L));
        Tag(model, 2, 2);
        Bytes(model, spec.ToArray());
        using var normalizer = new MemoryStream();
        Tag(normalizer, 1, 2);
        Bytes(normalizer, "identity"u8.ToArray());
        Tag(normalizer, 3, 0); // add_dummy_prefix
        Varint(normalizer, 1);
        Tag(model, 3, 2);
        Bytes(model, normalizer.ToArray());
        File.WriteAllBytes(path, model.ToArray());
    }

    /// <summary>Llama's layout: &lt;unk&gt;, &lt;s&gt;, &lt;/s&gt;, the 256 byte tokens, then <paramref name="words"/> (▁ for spaces) with descending scores.</summary>
    public static List<(string Piece, float Score, PieceType Type)> LlamaStylePieces(int vocabSize, params string[] words)
    {
        var pieces = new List<(string, float, PieceType)>
        {
            ("<unk>", 0, PieceType.Unknown), ("<s>", 0, PieceType.Control), ("</s>", 0, PieceType.Control),
        };
        for (int b = 0; b < 256; b++) pieces.Add(($"<0x{b:X2}>", 0, PieceType.Byte));
        for (int i = 0; pieces.Count < vocabSize; i++)
            pieces.Add((i < words.Length ? words[i] : $"▁w{i}", -i, PieceType.Normal));
        return pieces;
    }

    static void Tag(Stream s, int field, int wireType) => Varint(s, (ulong)(field << 3 | wireType));

    static void Bytes(Stream s, byte[] bytes)
    {
        Varint(s, (ulong)bytes.Length);
        s.Write(bytes);
    }

    static void Varint(Stream s, ulong value)
    {
        while (value >= 0x80)
        {
            s.WriteByte((byte)(value | 0x80));
            value >>= 7;
        }
        s.WriteByte((byte)value);
    }
}

using System.Text;
using Llama2.Engine.Model;

namespace Llama2.Engine.Formats.SentencePiece;

/// <summary>
/// A SentencePiece model file (tokenizer.model: a serialized <c>ModelProto</c>): its pieces with scores and types, and
/// from its trainer spec the model type and the ids of the special tokens. The normalizer's rules are not read; Llama's
/// vocabulary needs none beyond the dummy prefix and ▁ for spaces, which run.c's encoder applies itself.
/// </summary>
public static class SentencePieceModel
{
    // ModelProto: repeated SentencePiece pieces = 1; TrainerSpec trainer_spec = 2.
    // SentencePiece: string piece = 1; float score = 2; Type type = 3 (default NORMAL).
    // TrainerSpec: ModelType model_type = 3 (UNIGRAM 1, BPE 2, WORD 3, CHAR 4; default UNIGRAM);
    //              int32 unk_id = 40 (0), bos_id = 41 (1), eos_id = 42 (2).
    const int ModelPieces = 1, ModelTrainerSpec = 2;
    const int PieceText = 1, PieceScore = 2, PieceKind = 3;
    const int TrainerModelType = 3, TrainerBosId = 41, TrainerEosId = 42;
    const int Bpe = 2;

    /// <summary>Reads tokenizer.model; a file that is not one is a <see cref="CheckpointFormatException"/> naming it.</summary>
    public static Vocabulary Read(string path)
    {
        if (!File.Exists(path)) throw new CheckpointFormatException(path, "tokenizer model not found");
        try
        {
            return Parse(File.ReadAllBytes(path), path);
        }
        catch (FormatException e)
        {
            throw new CheckpointFormatException(path, $"not a SentencePiece model ({e.Message})");
        }
    }

    static Vocabulary Parse(ReadOnlySpan<byte> bytes, string path)
    {
        var pieces = new List<string>();
        var scores = new List<float>();
        var types = new List<PieceType>();
        int modelType = 1, bos = 1, eos = 2;
        var model = new ProtobufReader(bytes);
        while (!model.AtEnd)
        {
            var (field, wire) = model.ReadTag();
            if (field == ModelPieces && wire == ProtobufReader.LengthDelimited)
            {
                var (piece, score, type) = ParsePiece(model.ReadLengthDelimited());
                pieces.Add(piece);
                scores.Add(score);
                types.Add(type);
            }
            else if (field == ModelTrainerSpec && wire == ProtobufReader.LengthDelimited)
            {
                var spec = new ProtobufReader(model.ReadLengthDelimited());
                while (!spec.AtEnd)
                {
                    var (specField, specWire) = spec.ReadTag();
                    if (specWire != ProtobufReader.Varint) spec.Skip(specWire);
                    else if (specField == TrainerModelType) modelType = spec.ReadInt32();
                    else if (specField == TrainerBosId) bos = spec.ReadInt32();
                    else if (specField == TrainerEosId) eos = spec.ReadInt32();
                    else spec.Skip(specWire);
                }
            }
            else model.Skip(wire);
        }
        if (pieces.Count == 0) throw new FormatException("it has no pieces");
        return new Vocabulary(path, pieces, scores, types, bos, eos, mergesByScore: modelType == Bpe);
    }

    static (string Piece, float Score, PieceType Type) ParsePiece(ReadOnlySpan<byte> bytes)
    {
        string piece = "";
        float score = 0;
        var type = PieceType.Normal;
        var reader = new ProtobufReader(bytes);
        while (!reader.AtEnd)
        {
            var (field, wire) = reader.ReadTag();
            if (field == PieceText && wire == ProtobufReader.LengthDelimited) piece = Encoding.UTF8.GetString(reader.ReadLengthDelimited());
            else if (field == PieceScore && wire == ProtobufReader.Fixed32) score = reader.ReadFloat();
            else if (field == PieceKind && wire == ProtobufReader.Varint) type = (PieceType)reader.ReadInt32();
            else reader.Skip(wire);
        }
        return (piece, score, type);
    }
}

using Llama2.Engine.Formats;
using Llama2.Engine.Formats.Gguf;
using Llama2.Engine.Formats.SentencePiece;

namespace Llama2.Engine.Tests.Formats;

/// <summary>
/// tokenizer.model and a GGUF file's vocabulary, read and written as llama2.c's tokenizer.bin exactly as llama2.c's
/// tokenizer.py makes it (checked against the tokenizer.bin llama2.c ships, made by tokenizer.py from Llama 2's
/// tokenizer.model).
/// </summary>
public sealed class VocabularyTests : IDisposable
{
    readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Llama_2_tokenizer_model_becomes_llama2c_tokenizer_bin_byte_for_byte()
    {
        var vocabulary = SentencePieceModel.Read(SharedData.Require("models/tokenizer.model"));

        Assert.Equal(32000, vocabulary.Count);
        Assert.Equal((1, 2), (vocabulary.BosId, vocabulary.EosId));
        Assert.True(vocabulary.MergesByScore);
        Assert.Equal((PieceType.Unknown, PieceType.Control, PieceType.Byte, PieceType.Normal),
            (vocabulary.Types[0], vocabulary.Types[1], vocabulary.Types[3], vocabulary.Types[259]));
        Assert.Null(vocabulary.Llama2cProblem(32000));
        Assert.Equal(File.ReadAllBytes(SharedData.Tokenizer32k), vocabulary.ToTokenizerBin());
    }

    [Fact]
    public void Llama_2_vocabulary_in_a_gguf_file_becomes_the_same_tokenizer_bin()
    {
        var vocabulary = SentencePieceModel.Read(SharedData.Require("models/tokenizer.model"));
        var pieces = Enumerable.Range(0, vocabulary.Count)
            .Select(i => (vocabulary.Pieces[i], vocabulary.Scores[i], vocabulary.Types[i])).ToList();
        var config = TestModels.Small(vocab: 32000);
        var bin = _dir.File("m.bin");
        CheckpointWriter.WriteRandom(bin, config, version: 1);
        string path;
        using (var checkpoint = Checkpoint.Open(bin))
            path = ForeignModels.WriteGguf(checkpoint, _dir.File("m.gguf"), new ForeignModels.GgufOptions { Pieces = pieces });

        using var model = GgufModel.Open(path);
        Assert.Equal(File.ReadAllBytes(SharedData.Tokenizer32k), model.Vocabulary!.ToTokenizerBin());
    }

    [Fact]
    public void Tokenizer_bin_follows_tokenizer_py_for_a_small_vocabulary()
    {
        var pieces = SentencePieceWriter.LlamaStylePieces(300, "▁the", "▁▁", "é", "▁a▁b");
        var path = _dir.File("tokenizer.model");
        SentencePieceWriter.Write(path, pieces);
        var vocabulary = SentencePieceModel.Read(path);

        Assert.Equal(pieces.Select(p => p.Piece), vocabulary.Pieces);
        Assert.Equal(pieces.Select(p => p.Score), vocabulary.Scores);
        var bin = _dir.File("tokenizer.bin");
        File.WriteAllBytes(bin, vocabulary.ToTokenizerBin());
        var tokenizer = Tokenizer.Load(bin, 300);
        Assert.Equal("<unk>"u8.ToArray(), tokenizer.Piece(0).ToArray());
        Assert.Equal("\n<s>\n"u8.ToArray(), tokenizer.Piece(1).ToArray());
        Assert.Equal("\n</s>\n"u8.ToArray(), tokenizer.Piece(2).ToArray());
        Assert.Equal("<0x41>"u8.ToArray(), tokenizer.Piece(3 + 0x41).ToArray());
        Assert.Equal(" the"u8.ToArray(), tokenizer.Piece(259).ToArray());
        Assert.Equal("  "u8.ToArray(), tokenizer.Piece(260).ToArray());
        Assert.Equal("é"u8.ToArray(), tokenizer.Piece(261).ToArray());
        Assert.Equal(" a b"u8.ToArray(), tokenizer.Piece(262).ToArray());
        Assert.Equal(-1f, vocabulary.Scores[260]);
        Assert.Equal(6, BitConverter.ToInt32(File.ReadAllBytes(bin), 0)); // the longest piece: "\n</s>\n"
    }

    [Theory]
    [InlineData(SentencePieceWriter.Unigram, 1, 2, 300, "not a byte-pair")]
    [InlineData(SentencePieceWriter.Bpe, 2, 1, 300, "BOS and EOS are tokens 2 and 1")]
    [InlineData(SentencePieceWriter.Bpe, 1, 2, 512, "the vocabulary has 300 tokens but the model's embedding has 512 rows")]
    public void A_vocabulary_the_engine_tokenizer_cannot_stand_for_says_why(int modelType, int bos, int eos, int modelVocab, string problem)
    {
        var path = _dir.File("t.model");
        SentencePieceWriter.Write(path, SentencePieceWriter.LlamaStylePieces(300), modelType, bos, eos);
        Assert.Contains(problem, SentencePieceModel.Read(path).Llama2cProblem(modelVocab));
    }

    [Fact]
    public void A_vocabulary_without_byte_tokens_in_place_says_why()
    {
        var pieces = SentencePieceWriter.LlamaStylePieces(300);
        pieces.RemoveAt(100);
        pieces.Add(("▁x", -500, PieceType.Normal));
        var path = _dir.File("t.model");
        SentencePieceWriter.Write(path, pieces);
        Assert.Contains("token 100 is not the byte token <0x61>", SentencePieceModel.Read(path).Llama2cProblem(300));
    }

    [Theory]
    [InlineData(new byte[] { 0x0A, 0x05, 0x0A, 0x01 }, "runs past the end")] // a piece of 5 bytes holding a 1-byte string, cut
    [InlineData(new byte[] { 0x0B }, "wire type 3")] // a group: not in SentencePiece's messages
    [InlineData(new byte[] { 0x10, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 }, "longer than 10 bytes")]
    [InlineData(new byte[0], "no pieces")]
    public void Malformed_protobuf_is_a_clear_error(byte[] bytes, string problem)
    {
        var path = _dir.File("bad.model");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<CheckpointFormatException>(() => SentencePieceModel.Read(path));
        Assert.Equal(path, e.FilePath);
        Assert.Contains(problem, e.Message);
    }
}

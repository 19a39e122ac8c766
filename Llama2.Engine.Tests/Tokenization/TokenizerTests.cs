namespace Llama2.Engine.Tests.Tokenization;

public sealed class TokenizerTests
{
    static readonly Lazy<Tokenizer> Llama = new(() => Tokenizer.Load(SharedData.Require("models/tokenizer.bin"), 32000));

    public static TheoryData<string, int[]> LlamaPrompts => new()
    {
        // llama2.c's test.c: the prompts of Meta's example_text_completion.py.
        { "", [1] },
        { "I believe the meaning of life is", [1, 306, 4658, 278, 6593, 310, 2834, 338] },
        { "Simply put, the theory of relativity states that ", [1, 3439, 17632, 1925, 29892, 278, 6368, 310, 14215, 537, 5922, 393, 29871] },
        {
            "A brief message congratulating the team on the launch:\n\n        Hi everyone,\n\n        I just ",
            [1, 319, 11473, 2643, 378, 629, 271, 18099, 278, 3815, 373, 278, 6826, 29901, 13, 13, 4706, 6324, 14332, 29892, 13, 13, 4706, 306, 925, 29871]
        },
        {
            "Translate English to French:\n\n        sea otter => loutre de mer\n        peppermint => menthe poivrée\n        plush girafe => girafe peluche\n        cheese =>",
            [1, 4103, 9632, 4223, 304, 5176, 29901, 13, 13, 4706, 7205, 4932, 357, 1149, 301, 449, 276, 316, 2778, 13, 4706, 1236, 407, 837, 524, 1149, 6042, 354, 772, 440, 29878, 1318, 13, 4706, 715, 1878, 330, 3055, 1725, 1149, 330, 3055, 1725, 4639, 28754, 13, 4706, 923, 968, 1149]
        },
    };

    [Theory]
    [MemberData(nameof(LlamaPrompts))]
    public void Encodes_llama2c_test_prompts(string prompt, int[] expected) =>
        Assert.Equal(expected, Llama.Value.Encode(prompt, bos: true, eos: false));

    [Fact]
    public void Encodes_sentencepiece_vectors_like_sentencepiece()
    {
        var inputs = File.ReadAllText(SharedData.Require("golden/llama-spm.inp"))
            .Split("\n__ggml_vocab_test__\n");
        var outputs = File.ReadAllLines(SharedData.Require("golden/llama-spm.out"));
        Assert.Equal(46, outputs.Length);
        var failures = new List<string>();
        for (int i = 0; i < outputs.Length; i++)
        {
            var expected = outputs[i].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray();
            var actual = Llama.Value.Encode(inputs[i], bos: false, eos: false);
            if (!expected.SequenceEqual(actual))
                failures.Add($"#{i} {inputs[i]}: expected [{string.Join(' ', expected)}], got [{string.Join(' ', actual)}]");
        }
        Assert.Empty(failures);
    }

    [Fact]
    public void Eos_is_appended_when_asked() =>
        Assert.Equal([1, 306, 2], Llama.Value.Encode("I", bos: true, eos: true));

    public static TheoryData<string> RoundTripTexts => new()
    {
        "Hello world",
        "🦙 llamas 🦙🦙 and 👩‍👩‍👧 families",
        "日本語のテキストと中文文本",
        "line one\nline two\n\n\ttabbed\r\n",
        "   leading and    runs   of spaces   ",
        " a single leading space",
        "Führer ½ naïve café – “quotes” …",
        "\u0000 control \u0007 bytes \u007f",
        "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕄𝕒𝕥𝕙 and a lone é",
    };

    [Theory]
    [MemberData(nameof(RoundTripTexts))]
    public void Decoding_the_encoding_gives_back_the_text(string text)
    {
        var tokens = Llama.Value.Encode(text, bos: true, eos: false);
        Assert.Equal(Tokenizer.Bos, tokens[0]);
        Assert.Equal(text, Llama.Value.DecodeAll(tokens.Skip(1)));
    }

    [Fact]
    public void Unknown_code_points_fall_back_to_byte_tokens()
    {
        // U+1F999 🦙 has no piece in the Llama vocabulary: its four UTF-8 bytes become tokens byte + 3.
        var tokens = Llama.Value.Encode("🦙", bos: false, eos: false);
        Assert.Equal([29871, 0xF0 + 3, 0x9F + 3, 0xA6 + 3, 0x99 + 3], tokens);
    }

    [Fact]
    public void Decode_drops_the_leading_space_only_after_bos()
    {
        int hello = Llama.Value.Encode("Hello", bos: false, eos: false)[^1]; // "▁Hello"
        Assert.Equal("Hello", Encoding.UTF8.GetString(Llama.Value.Decode(Tokenizer.Bos, hello)));
        Assert.Equal(" Hello", Encoding.UTF8.GetString(Llama.Value.Decode(13, hello)));
    }

    [Fact]
    public void Byte_tokens_decode_to_raw_bytes()
    {
        Assert.Equal([0x0A], Llama.Value.Decode(5, 13).ToArray()); // <0x0A>
        Assert.Equal([0xF0], Llama.Value.Decode(5, 0xF0 + 3).ToArray());
    }

    [Fact]
    public void Merges_take_the_highest_scoring_pair_first()
    {
        using var dir = new TempDirectory();
        var path = dir.File("tokenizer.bin");
        // "ab" scores higher than "bc", so "abc" → "ab" + "c" although "bc" is also a piece.
        TestModels.WriteTokenizer(path, 270, (" ", 0f), ("a", 0f), ("b", 0f), ("c", 0f), ("ab", 5f), ("bc", 3f));
        var tokenizer = Tokenizer.Load(path, 270);
        var ids = tokenizer.Encode("abc", bos: false, eos: false);
        Assert.Equal(["▁", "ab", "c"], ids.Select(id => Encoding.UTF8.GetString(tokenizer.Piece(id)).Replace(' ', '▁')));
    }
}

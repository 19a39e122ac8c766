namespace Llama2.Training.Tests;

/// <summary>
/// A small corpus with structure: documents that are one of eight fixed 12-token sentences (tokens 3–31), each after
/// BOS. After BOS the sentence is a guess among eight (ln 8 ≈ 2.08 nats); the rest of it, and the next BOS, follow
/// from its first token, so a model that learns the sentences averages about 2.08 / 13 ≈ 0.16 nats a token.
/// </summary>
static class TestCorpus
{
    public const int Vocab = 32;

    public static readonly int[][] Sentences = MakeSentences();

    static int[][] MakeSentences()
    {
        var random = new Random(1);
        return Enumerable.Range(0, 8).Select(_ => Enumerable.Range(0, 12).Select(_ => random.Next(3, Vocab)).ToArray()).ToArray();
    }

    public static int[] Documents(int count, int seed)
    {
        var random = new Random(seed);
        var tokens = new List<int>();
        for (int d = 0; d < count; d++)
        {
            tokens.Add(1);
            tokens.AddRange(Sentences[random.Next(Sentences.Length)]);
        }
        return tokens.ToArray();
    }

    /// <summary>A token file of these tokens, as the pretokenizer writes one.</summary>
    public static void Write(string path, int[] tokens, TokenDataType dataType = TokenDataType.UInt16)
    {
        using var writer = new TokenFileWriter(path, dataType);
        writer.Write([.. tokens]);
    }
}

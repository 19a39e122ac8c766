using System.Text;

namespace Llama2.Server.Tests.TestData;

/// <summary>
/// Writes a llama2.c tokenizer.bin of 512 tokens for stories260K (whose own tokenizer is not available): the three
/// control tokens, the 256 byte tokens, the printable ASCII characters, then letter pairs. Enough to encode any text.
/// </summary>
public static class SmallTokenizer
{
    public const int VocabSize = 512;

    public static string Write(string directory)
    {
        var pieces = new List<string> { "<unk>", "\n<s>\n", "\n</s>\n" };
        for (int b = 0; b < 256; b++) pieces.Add($"<0x{b:X2}>");
        for (char c = ' '; c <= '~'; c++) pieces.Add(c.ToString());
        for (char a = 'a'; a <= 'z' && pieces.Count < VocabSize; a++)
            for (char b = 'a'; b <= 'z' && pieces.Count < VocabSize; b++)
                pieces.Add($"{a}{b}");

        var path = Path.Combine(directory, "tokenizer512.bin");
        using var writer = new BinaryWriter(File.Create(path));
        writer.Write(16); // max_token_length
        for (int i = 0; i < pieces.Count; i++)
        {
            var bytes = Encoding.UTF8.GetBytes(pieces[i]);
            writer.Write(i < 259 ? 0f : -i); // later pieces score lower, so merges prefer earlier pairs
            writer.Write(bytes.Length);
            writer.Write(bytes);
        }
        return path;
    }
}

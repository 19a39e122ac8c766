namespace Llama2.Training.Tests.TestData;

/// <summary>Writes a llama2.c tokenizer.bin from given pieces: the three special tokens and 256 byte tokens first.</summary>
public static class HandMadeTokenizer
{
    /// <summary>
    /// Writes ids 0..258 as llama2.c lays them out (score 0), then <paramref name="pieces"/> from id 259 on, with
    /// <paramref name="score"/> of each id.
    /// </summary>
    public static void Write(string path, IEnumerable<string> pieces, Func<int, float> score)
    {
        var all = new List<string> { "<unk>", "\n<s>\n", "\n</s>\n" };
        all.AddRange(Enumerable.Range(0, 256).Select(b => $"<0x{b:X2}>"));
        all.AddRange(pieces);
        using var file = new BinaryWriter(File.Create(path));
        file.Write(all.Max(p => Encoding.UTF8.GetByteCount(p)));
        for (int id = 0; id < all.Count; id++)
        {
            var bytes = Encoding.UTF8.GetBytes(all[id]);
            file.Write(id < 259 ? 0f : score(id));
            file.Write(bytes.Length);
            file.Write(bytes);
        }
    }
}

namespace Llama2.Training.Tests.TestData;

/// <summary>
/// Deterministic English-like text for training tests: words made of syllables with Zipf-distributed frequencies,
/// sentences with punctuation, numbers, quotes and apostrophes, and a share of accented, Cyrillic, CJK and emoji
/// text, runs of spaces, tabs and line breaks.
/// </summary>
public static class SyntheticText
{
    static readonly string[] Syllables =
        ["the", "an", "be", "ro", "ka", "li", "mo", "ser", "ta", "ne", "vi", "dor", "pa", "el", "shi", "un", "qua", "to",
         "ri", "go", "ma", "sel", "fe", "lo", "ha", "ti", "bra", "cu", "de", "on"];
    static readonly string[] Foreign = ["café", "naïve", "Größe", "façade", "Москва", "привет", "日本語", "中文", "テキスト", "🦙", "👩‍👧", "½"];

    /// <summary><paramref name="count"/> distinct lower-case words of 1 to 4 syllables.</summary>
    public static string[] Vocabulary(int count, int seed)
    {
        var random = new Random(seed);
        var words = new HashSet<string>(StringComparer.Ordinal);
        var ordered = new List<string>();
        while (ordered.Count < count)
        {
            var word = string.Concat(Enumerable.Range(0, random.Next(1, 5)).Select(_ => Syllables[random.Next(Syllables.Length)]));
            if (words.Add(word)) ordered.Add(word);
        }
        return [.. ordered];
    }

    /// <summary>Documents of one to four sentences, some on several lines.</summary>
    public static List<string> Documents(int count, int seed, int distinctWords = 400)
    {
        var random = new Random(seed);
        var vocabulary = Vocabulary(distinctWords, seed);
        var zipf = new Zipf(vocabulary.Length);
        var documents = new List<string>(count);
        for (int d = 0; d < count; d++)
        {
            var text = new StringBuilder();
            int sentences = random.Next(1, 5);
            for (int s = 0; s < sentences; s++)
            {
                if (s > 0) text.Append(random.Next(6) == 0 ? "\n" : " ");
                if (random.Next(12) == 0) text.Append(random.Next(2) == 0 ? "\t" : "    ");
                int words = random.Next(3, 14);
                for (int w = 0; w < words; w++)
                {
                    if (w > 0) text.Append(random.Next(40) == 0 ? "  " : " ");
                    var word = vocabulary[zipf.Next(random)];
                    if (w == 0) word = char.ToUpperInvariant(word[0]) + word[1..];
                    switch (random.Next(40))
                    {
                        case 0: text.Append(random.Next(1, 2000)); break;
                        case 1: text.Append(Foreign[random.Next(Foreign.Length)]); break;
                        case 2: text.Append('"').Append(word).Append('"'); break;
                        case 3: text.Append(word).Append("'s"); break;
                        default: text.Append(word); break;
                    }
                    if (w < words - 1 && random.Next(10) == 0) text.Append(random.Next(3) == 0 ? ";" : ",");
                }
                text.Append(random.Next(5) switch { 0 => "!", 1 => "?", _ => "." });
            }
            documents.Add(text.ToString());
        }
        return documents;
    }

    /// <summary>Draws ranks with probability proportional to 1 / (rank + 1).</summary>
    sealed class Zipf(int n)
    {
        readonly double[] _cumulative = Cumulative(n);

        static double[] Cumulative(int n)
        {
            var c = new double[n];
            double sum = 0;
            for (int i = 0; i < n; i++) c[i] = sum += 1.0 / (i + 1);
            return c;
        }

        public int Next(Random random)
        {
            int i = Array.BinarySearch(_cumulative, random.NextDouble() * _cumulative[^1]);
            return Math.Min(i < 0 ? ~i : i, _cumulative.Length - 1);
        }
    }
}

using System.Runtime.InteropServices;
using System.Text;
using Llama2.Training.Data;

namespace Llama2.Training.Tokenization;

/// <summary>
/// Trains a byte-pair-encoding vocabulary with byte fallback, laid out as a llama2.c vocabulary from SentencePiece
/// BPE (see <see cref="TrainedTokenizer"/>), whose tokenizer.bin makes run.c's encoder (and our engine's) segment the
/// training text exactly as the trainer did. Deterministic: the same documents and options give the same file.
/// <para>
/// Each document is encoded as run.c encodes it: a dummy-prefix space, then its characters; pieces follow
/// SentencePiece's rules for a llama2.c vocabulary (<see cref="PieceShape"/>): they never cross a space-to-word
/// boundary except for the one space starting a word, runs of spaces may form pieces, digits stay single, scripts do
/// not mix. Characters the alphabet keeps (all, with the default coverage) are pieces; others, and any character
/// unseen in training, are encoded as UTF-8 byte tokens.
/// </para>
/// </summary>
public static class TokenizerTrainer
{
    /// <summary>
    /// Stretches of text longer than this many characters (a space-free run of one script, e.g. a long DNA string)
    /// only add their characters to the alphabet and take no part in learning merges, as SentencePiece skips
    /// sentences over 4192 bytes: re-encoding them at each merge would make training quadratic in their length.
    /// </summary>
    public const int MaxStretchLength = 1024;

    /// <summary>Trains on a corpus read from files, reporting bytes read, then merges learned.</summary>
    public static TrainedTokenizer Train(TextCorpus corpus, TokenizerTrainingOptions options,
        IProgress<TokenizerTrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        options.Validate();
        var counter = new StretchCounter();
        long lastReport = 0;
        foreach (var document in corpus.ReadDocuments(cancellationToken))
        {
            counter.Add(document.Text);
            if (document.Position - lastReport >= 1 << 20)
            {
                lastReport = document.Position;
                progress?.Report(new(TokenizerTrainingStage.Reading, document.Position, corpus.TotalBytes));
            }
        }
        progress?.Report(new(TokenizerTrainingStage.Reading, corpus.TotalBytes, corpus.TotalBytes));
        return Train(counter, options, progress, cancellationToken);
    }

    /// <summary>Trains on documents given as strings.</summary>
    public static TrainedTokenizer Train(IEnumerable<string> documents, TokenizerTrainingOptions options,
        IProgress<TokenizerTrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        options.Validate();
        var counter = new StretchCounter();
        foreach (var document in documents)
        {
            cancellationToken.ThrowIfCancellationRequested();
            counter.Add(document);
        }
        return Train(counter, options, progress, cancellationToken);
    }

    static TrainedTokenizer Train(StretchCounter counter, TokenizerTrainingOptions options,
        IProgress<TokenizerTrainingProgress>? progress, CancellationToken cancellationToken)
    {
        if (counter.Documents == 0) throw new TrainingDataException("the input holds no text to train a tokenizer on");

        var stretches = counter.Stretches.OrderBy(w => w.Key, StringComparer.Ordinal).ToArray();
        var characterCounts = CountCharacters(stretches, counter.SkippedCharacters);
        var alphabet = ChooseAlphabet(characterCounts, options.CharacterCoverage);
        int merges = options.VocabSize - TrainedTokenizer.FirstLearnedId - alphabet.Count;
        if (merges < 0)
            throw new TrainingDataException(
                $"a vocabulary of {options.VocabSize} tokens is too small for this text: 3 special and 256 byte tokens and its " +
                $"{alphabet.Count} distinct characters need at least {TrainedTokenizer.FirstLearnedId + alphabet.Count}; " +
                "ask for a larger vocabulary or a lower character coverage");

        var merger = new BpeMerger(alphabet, stretches, options.MaxPieceLength);
        for (int done = 0; done < merges; done++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!merger.TryMerge())
                throw new TrainingDataException(
                    $"this text yields only {merger.MergeCount} merges, so the largest vocabulary it can train is " +
                    $"{TrainedTokenizer.FirstLearnedId + alphabet.Count + merger.MergeCount} tokens, not {options.VocabSize}; " +
                    "ask for at most that or give more text");
            if ((done + 1) % 64 == 0 || done + 1 == merges) progress?.Report(new(TokenizerTrainingStage.Merging, done + 1, merges));
        }
        return Layout(merger, alphabet, stretches, counter, characterCounts.Count);
    }

    static Dictionary<Rune, long> CountCharacters(IEnumerable<KeyValuePair<string, long>> stretches, Dictionary<Rune, long> skipped)
    {
        var counts = new Dictionary<Rune, long>(skipped);
        foreach (var (stretch, count) in stretches)
            foreach (var c in stretch.EnumerateRunes())
                counts[c] = counts.GetValueOrDefault(c) + count;
        return counts;
    }

    /// <summary>
    /// The characters that become pieces: the most frequent first (then by code point) until they cover
    /// <paramref name="coverage"/> of all character occurrences, as SentencePiece's character_coverage. NUL never
    /// does (run.c's C strings cannot hold it); it stays a byte token.
    /// </summary>
    static List<string> ChooseAlphabet(Dictionary<Rune, long> counts, double coverage)
    {
        var ordered = counts.Where(c => c.Key.Value != 0).OrderByDescending(c => c.Value).ThenBy(c => c.Key.Value).ToList();
        long total = ordered.Sum(c => c.Value), covered = 0;
        var alphabet = new List<string>();
        foreach (var (c, count) in ordered)
        {
            if ((double)covered / total >= coverage) break;
            covered += count;
            alphabet.Add(c.ToString());
        }
        return alphabet;
    }

    /// <summary>Turns the merger's internal ids into the llama2.c layout and scores.</summary>
    static TrainedTokenizer Layout(BpeMerger merger, List<string> alphabet, KeyValuePair<string, long>[] stretches,
        StretchCounter counter, int distinctCharacters)
    {
        int merges = merger.MergeCount;
        var pieces = new List<string>(TrainedTokenizer.FirstLearnedId + merges + alphabet.Count) { "<unk>", "\n<s>\n", "\n</s>\n" };
        var scores = new List<float> { 0, 0, 0 };
        for (int b = 0; b < 256; b++)
        {
            pieces.Add($"<0x{b:X2}>");
            scores.Add(0);
        }
        for (int k = 0; k < merges; k++)
        {
            pieces.Add(merger.Text(merger.FirstMergeId + k));
            scores.Add(-(float)k); // −0 for the first, as SentencePiece writes it
        }
        for (int j = 0; j < alphabet.Count; j++)
        {
            pieces.Add(alphabet[j]);
            scores.Add(-(float)(merges + j));
        }

        int FinalId(int id) =>
            id < BpeMerger.ByteCount ? TrainedTokenizer.FirstByteId + id
            : id < merger.FirstMergeId ? TrainedTokenizer.FirstLearnedId + merges + (id - BpeMerger.ByteCount)
            : TrainedTokenizer.FirstLearnedId + (id - merger.FirstMergeId);

        var stretchTokens = new Dictionary<string, int[]>(stretches.Length, StringComparer.Ordinal);
        long tokens = 0;
        for (int w = 0; w < stretches.Length; w++)
        {
            var segmentation = merger.Segmentation(w);
            stretchTokens.Add(stretches[w].Key, segmentation.Select(FinalId).ToArray());
            tokens += segmentation.Count * stretches[w].Value;
        }
        var summary = new TokenizerTrainingSummary(counter.Documents, counter.TextBytes, counter.Words, stretches.Length,
            distinctCharacters, counter.SkippedStretches, counter.SkippedBytes, tokens);
        return new TrainedTokenizer(pieces, scores, merges, stretchTokens, summary);
    }

    /// <summary>
    /// Counts the stretches of documents (see <see cref="Stretches"/>) as run.c would encode them, with the
    /// dummy-prefix space. Stretches longer than <see cref="MaxStretchLength"/> characters only count their characters.
    /// </summary>
    sealed class StretchCounter
    {
        readonly Dictionary<string, long> _counts = new(StringComparer.Ordinal);
        readonly Dictionary<string, long>.AlternateLookup<ReadOnlySpan<char>> _bySpan;

        public StretchCounter() => _bySpan = _counts.GetAlternateLookup<ReadOnlySpan<char>>();

        public long Documents { get; private set; }
        public long TextBytes { get; private set; }
        public long Words { get; private set; }
        public long SkippedStretches { get; private set; }
        public long SkippedBytes { get; private set; }
        /// <summary>The characters of the skipped stretches.</summary>
        public Dictionary<Rune, long> SkippedCharacters { get; } = [];
        public IEnumerable<KeyValuePair<string, long>> Stretches => _counts;

        public void Add(string document)
        {
            if (document.Length == 0) return;
            Documents++;
            TextBytes += Encoding.UTF8.GetByteCount(document);
            bool first = true;
            foreach (var stretch in Tokenization.Stretches.Of(document))
            {
                if (stretch[0] == ' ') Words++;
                if (stretch.Length <= MaxStretchLength)
                    CollectionsMarshal.GetValueRefOrAddDefault(_bySpan, stretch, out _)++;
                else
                {
                    SkippedStretches++;
                    // The text's bytes, not the dummy-prefix space that starts a document's first stretch.
                    SkippedBytes += Encoding.UTF8.GetByteCount(stretch) - (first ? 1 : 0);
                    foreach (var c in stretch.EnumerateRunes()) SkippedCharacters[c] = SkippedCharacters.GetValueOrDefault(c) + 1;
                }
                first = false;
            }
        }
    }
}

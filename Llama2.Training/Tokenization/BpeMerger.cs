using System.Diagnostics;

namespace Llama2.Training.Tokenization;

/// <summary>
/// Learns byte-pair merges over the distinct stretches of a text (see <see cref="Stretches"/>), here called words,
/// with their counts.
/// <para>
/// Each word's segmentation is at every step exactly what run.c's encoder makes of the word with the pieces learned so
/// far: starting from its characters, join the adjacent pair whose joined text is the earliest learned piece (the
/// leftmost on ties), until no adjacent pair joins into a piece. A new piece ranks below every earlier one, so adding
/// it only continues that process where it stopped: each word holding a pair that joins into the new piece is
/// continued, and the pair counts of what changed are updated. The tokenizer written with score −rank per piece
/// therefore segments the training text exactly as the trainer did.
/// </para>
/// <para>
/// Each step learns the text that the most adjacent pairs in the corpus join into (pairs are counted by their joined
/// text, so "ab"+"c" and "a"+"bc" count together: the encoder joins both); ties go to the shorter piece, then to the
/// lower text in SentencePiece's order (<see cref="Candidate.BestFirst"/>). Pairs the <see cref="PieceShape"/> rules
/// forbid are never counted.
/// </para>
/// </summary>
internal sealed class BpeMerger
{
    /// <summary>Ids 0..255 are the byte-fallback bytes, then the alphabet's characters, then the merges in order.</summary>
    public const int ByteCount = 256;

    readonly int _maxPieceLength;
    readonly List<string> _texts = [];
    readonly List<PieceShape> _shapes = [];
    readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);
    readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _idsBySpan;
    readonly char[] _joined;

    readonly long[] _wordCounts;
    readonly int[][] _words;
    readonly int[] _wordStep;

    /// <summary>Pairs by the text they join into (every such text ever seen is kept, so each has one entry).</summary>
    readonly Dictionary<string, PairStats> _pairs = new(StringComparer.Ordinal);
    readonly Dictionary<string, PairStats>.AlternateLookup<ReadOnlySpan<char>> _pairsBySpan;
    /// <summary>The same entries by the ids of the pair, null for pairs that may not be joined.</summary>
    readonly Dictionary<long, PairStats?> _pairsByIds = new(PairKeyComparer.Instance);
    readonly PriorityQueue<PairStats, Candidate> _queue = new(Candidate.BestFirst);
    readonly List<PairStats> _touched = [];
    readonly List<int> _tokens = [];
    readonly List<int> _merged = [];
    int _step;

    /// <param name="alphabet">The characters that are pieces; any other character is its UTF-8 bytes.</param>
    /// <param name="words">The distinct stretches of text (see <see cref="Stretches"/>) and how often each occurs.</param>
    public BpeMerger(IReadOnlyList<string> alphabet, IReadOnlyList<KeyValuePair<string, long>> words, int maxPieceLength)
    {
        _maxPieceLength = maxPieceLength;
        _idsBySpan = _ids.GetAlternateLookup<ReadOnlySpan<char>>();
        _pairsBySpan = _pairs.GetAlternateLookup<ReadOnlySpan<char>>();
        _joined = new char[4 * maxPieceLength];
        for (int b = 0; b < ByteCount; b++)
        {
            _texts.Add("");
            _shapes.Add(PieceShape.Byte);
        }
        foreach (var c in alphabet) AddPiece(c, PieceShape.OfCharacter(System.Text.Rune.GetRuneAt(c, 0)));
        FirstMergeId = _texts.Count;

        _wordCounts = new long[words.Count];
        _words = new int[words.Count][];
        _wordStep = new int[words.Count];
        Span<byte> utf8 = stackalloc byte[4];
        Span<char> chars = stackalloc char[2];
        for (int w = 0; w < words.Count; w++)
        {
            _tokens.Clear();
            foreach (var c in words[w].Key.EnumerateRunes())
            {
                if (_idsBySpan.TryGetValue(chars[..c.EncodeToUtf16(chars)], out int id))
                    _tokens.Add(id);
                else
                    for (int i = 0, n = c.EncodeToUtf8(utf8); i < n; i++) _tokens.Add(utf8[i]);
            }
            _wordCounts[w] = words[w].Value;
            _words[w] = [.. _tokens];
            for (int i = 0; i + 1 < _tokens.Count; i++) CountPair(_tokens[i], _tokens[i + 1], _wordCounts[w], w);
        }
        QueueTouched();
    }

    public int FirstMergeId { get; }

    public int MergeCount => _texts.Count - FirstMergeId;

    /// <summary>The text of an internal id (empty for the byte ids).</summary>
    public string Text(int id) => _texts[id];

    /// <summary>A word's current segmentation, in internal ids.</summary>
    public IReadOnlyList<int> Segmentation(int word) => _words[word];

    /// <summary>Learns the next piece; false when no pair of pieces may be joined any more.</summary>
    public bool TryMerge()
    {
        PairStats best;
        while (true)
        {
            if (!_queue.TryDequeue(out best!, out var candidate)) return false;
            if (best.Count == candidate.Count && best.Count > 0) break;
            // An outdated entry: the count went down since (queued again as it is now) or up (queued already).
            if (best.Count > 0 && best.Count < candidate.Count) _queue.Enqueue(best, new Candidate(best.Count, best.Shape.Length, best.Text));
        }

        int id = _texts.Count;
        AddPiece(best.Text, best.Shape);
        _step++;
        foreach (int w in best.Words)
        {
            if (_wordStep[w] == _step) continue;
            _wordStep[w] = _step;
            ContinueEncoding(w, best, id);
        }
        Debug.Assert(best.Count == 0, "every pair joining into the new piece is merged");
        QueueTouched();
        return true;
    }

    void AddPiece(string text, PieceShape shape)
    {
        _ids.Add(text, _texts.Count);
        _texts.Add(text);
        _shapes.Add(shape);
    }

    /// <summary>
    /// Runs run.c's merge loop on a word whose segmentation was final before <paramref name="piece"/> was learned:
    /// repeatedly join the adjacent pair that makes the earliest learned piece, the leftmost on ties. Only the pairs
    /// joining into the new piece can be joined at first; each merge may make its neighbours joinable into an earlier
    /// piece, which then goes first. The pair counts change only around each merge.
    /// </summary>
    void ContinueEncoding(int word, PairStats piece, int pieceId)
    {
        var segmentation = _words[word];
        int first = 0;
        while (first + 1 < segmentation.Length && !piece.Forms.Contains(Key(segmentation[first], segmentation[first + 1]))) first++;
        if (first + 1 >= segmentation.Length) return; // the word no longer holds the pair

        var tokens = _tokens;
        var merged = _merged;
        tokens.Clear();
        tokens.AddRange(segmentation);
        merged.Clear();
        for (int i = 0; i + 1 < tokens.Count; i++)
            merged.Add(i >= first && piece.Forms.Contains(Key(tokens[i], tokens[i + 1])) ? pieceId : -1);

        long count = _wordCounts[word];
        while (true)
        {
            int best = -1;
            for (int i = 0; i < merged.Count; i++)
                if (merged[i] >= 0 && (best < 0 || merged[i] < merged[best])) best = i;
            if (best < 0) break;

            int left = best > 0 ? tokens[best - 1] : -1, right = best + 2 < tokens.Count ? tokens[best + 2] : -1;
            int a = tokens[best], b = tokens[best + 1], joined = merged[best];
            CountPair(left, a, -count, word);
            CountPair(a, b, -count, word);
            CountPair(b, right, -count, word);
            CountPair(left, joined, count, word);
            CountPair(joined, right, count, word);

            tokens[best] = joined;
            tokens.RemoveAt(best + 1);
            merged.RemoveAt(best);
            if (best > 0) merged[best - 1] = PieceJoining(left, joined);
            if (best < merged.Count) merged[best] = PieceJoining(joined, right);
        }
        _words[word] = [.. tokens];
    }

    static long Key(int left, int right) => (long)left << 32 | (uint)right;

    /// <summary>The id of the piece that <paramref name="left"/> and <paramref name="right"/> join into, or −1.</summary>
    int PieceJoining(int left, int right) =>
        PieceShape.Join(_shapes[left], _shapes[right], _maxPieceLength) is not null
        && _idsBySpan.TryGetValue(Join(left, right), out int id) ? id : -1;

    ReadOnlySpan<char> Join(int left, int right)
    {
        string l = _texts[left], r = _texts[right];
        l.CopyTo(_joined);
        r.CopyTo(_joined.AsSpan(l.Length));
        return _joined.AsSpan(0, l.Length + r.Length);
    }

    /// <summary>
    /// Adds <paramref name="weight"/> to the count of the pair <paramref name="left"/>, <paramref name="right"/>
    /// (nothing for −1, the edge of a word, or a pair the rules forbid), noting the word when it gains the pair.
    /// </summary>
    void CountPair(int left, int right, long weight, int word)
    {
        if (left < 0 || right < 0) return;
        long key = Key(left, right);
        if (!_pairsByIds.TryGetValue(key, out var pair))
        {
            if (PieceShape.Join(_shapes[left], _shapes[right], _maxPieceLength) is { } shape)
            {
                var joined = Join(left, right);
                if (!_pairsBySpan.TryGetValue(joined, out pair))
                {
                    pair = new PairStats(joined.ToString(), shape);
                    _pairs.Add(pair.Text, pair);
                }
                pair.Forms.Add(key);
            }
            _pairsByIds.Add(key, pair);
        }
        if (pair is null) return;
        pair.Count += weight;
        if (weight > 0 && (pair.Words.Count == 0 || pair.Words[^1] != word)) pair.Words.Add(word);
        if (pair.TouchedStep != _step + 1)
        {
            pair.TouchedStep = _step + 1;
            _touched.Add(pair);
        }
    }

    /// <summary>
    /// Queues every pair whose count went up in this step. One whose count went down keeps its entry, which now
    /// overstates it: <see cref="TryMerge"/> queues it again with its true count when that entry comes first.
    /// </summary>
    void QueueTouched()
    {
        foreach (var pair in _touched)
        {
            Debug.Assert(pair.Count >= 0);
            if (pair.Count > pair.QueuedCount) _queue.Enqueue(pair, new Candidate(pair.Count, pair.Shape.Length, pair.Text));
            pair.QueuedCount = pair.Count;
        }
        _touched.Clear();
    }

    /// <summary>Adjacent pairs that join into one text: their count over the corpus and the words that hold them.</summary>
    sealed class PairStats(string text, PieceShape shape)
    {
        public string Text { get; } = text;
        public PieceShape Shape { get; } = shape;
        public long Count;
        /// <summary>Words that held the pair when it was counted (some may not any more).</summary>
        public List<int> Words { get; } = [];
        /// <summary>The pairs of ids that join into the text (usually one).</summary>
        public List<long> Forms { get; } = [];
        public int TouchedStep;
        /// <summary>The count when the pair's latest queue entry was made (or last updated without one).</summary>
        public long QueuedCount;
    }

    /// <summary>
    /// Hashes a pair key (left id in the high half, right id in the low half) by mixing all its bits: long's own hash
    /// XORs the halves, which would give pairs of small ids only a few thousand distinct hashes.
    /// </summary>
    sealed class PairKeyComparer : IEqualityComparer<long>
    {
        public static readonly PairKeyComparer Instance = new();

        public bool Equals(long x, long y) => x == y;

        public int GetHashCode(long key) => (int)((ulong)key * 0x9E3779B97F4A7C15UL >> 32);
    }

    /// <summary>A queue entry: the pair's count when queued, its length in characters and its text.</summary>
    readonly record struct Candidate(long Count, int Length, string Text)
    {
        /// <summary>
        /// Most frequent first, then shorter, then by code points with a space counted as SentencePiece's "▁"
        /// (U+2581), which is how SentencePiece orders pieces of equal count and length.
        /// </summary>
        public static readonly IComparer<Candidate> BestFirst = Comparer<Candidate>.Create((a, b) =>
            a.Count != b.Count ? b.Count.CompareTo(a.Count)
            : a.Length != b.Length ? a.Length.CompareTo(b.Length)
            : CompareAsSentencePiece(a.Text, b.Text));

        static int CompareAsSentencePiece(string a, string b)
        {
            var x = a.EnumerateRunes();
            var y = b.EnumerateRunes();
            while (true)
            {
                bool moreX = x.MoveNext(), moreY = y.MoveNext();
                if (!moreX || !moreY) return moreX.CompareTo(moreY);
                int cx = x.Current.Value == ' ' ? 0x2581 : x.Current.Value, cy = y.Current.Value == ' ' ? 0x2581 : y.Current.Value;
                if (cx != cy) return cx.CompareTo(cy);
            }
        }
    }
}

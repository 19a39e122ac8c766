using Llama2.Engine.Tokenization;

namespace Llama2.Training.Tokenization;

/// <summary>
/// Encodes documents to exactly the tokens <see cref="Tokenizer.Encode"/> (run.c's encoder) gives, faster on large
/// corpora: word by word, each distinct word encoded once and remembered.
/// <para>
/// run.c merges any adjacent pair whose joined text is a piece. When no piece holds a space right after another
/// character, no pair can join across the start of a word (a run of spaces and the characters after it, see
/// <see cref="Words"/>), so each word's tokens depend on the word alone, and the document's tokens are its words'
/// tokens in order. Every vocabulary SentencePiece trains (ours included) is like that; for any other the whole
/// document goes through <see cref="Tokenizer.Encode"/>.
/// </para>
/// </summary>
internal sealed class DocumentEncoder
{
    readonly Tokenizer _tokenizer;
    readonly int _space;
    readonly bool _wordByWord;
    readonly int _maxCachedWords;
    readonly Dictionary<string, int[]> _words = new(StringComparer.Ordinal);
    readonly Dictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _wordsBySpan;

    public DocumentEncoder(Tokenizer tokenizer, int maxCachedWords = 1 << 20)
    {
        _tokenizer = tokenizer;
        _maxCachedWords = maxCachedWords;
        _wordsBySpan = _words.GetAlternateLookup<ReadOnlySpan<char>>();
        _space = -1;
        bool spaceInsidePiece = false;
        for (int id = 0; id < tokenizer.VocabSize; id++)
        {
            var piece = tokenizer.Piece(id);
            if (_space < 0 && piece is [(byte)' ']) _space = id;
            for (int i = 1; i < piece.Length; i++) spaceInsidePiece |= piece[i] == ' ' && piece[i - 1] != ' ';
        }
        _wordByWord = _space >= 0 && !spaceInsidePiece;
    }

    /// <summary>Appends the tokens of <paramref name="document"/> (dummy-prefix space included, no BOS) to <paramref name="tokens"/>.</summary>
    public void Encode(string document, List<int> tokens)
    {
        if (!_wordByWord)
        {
            tokens.AddRange(_tokenizer.Encode(document, bos: false, eos: false));
            return;
        }
        foreach (var word in Words.Split(Words.WithDummyPrefix(document)))
        {
            if (!_wordsBySpan.TryGetValue(word, out var ids))
            {
                // The word starts with a space, which run.c's dummy prefix supplies; a lone space is the space token.
                ids = word.Length == 1 ? [_space] : [.. _tokenizer.Encode(word[1..].ToString(), bos: false, eos: false)];
                if (_words.Count < _maxCachedWords) _wordsBySpan[word] = ids;
            }
            tokens.AddRange(ids);
        }
    }
}

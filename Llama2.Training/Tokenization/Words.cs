namespace Llama2.Training.Tokenization;

/// <summary>
/// Splits text into the words no piece crosses, as SentencePiece does with allow_whitespace_only_pieces: each word is
/// a run of spaces followed by the non-space characters up to the next space ("a  b" is "a", "  b"). Only U+0020
/// separates words; tabs and line breaks are characters like any other.
/// </summary>
internal static class Words
{
    /// <summary>
    /// The text run.c encodes for a document: the dummy-prefix space before it (none for empty text). Every word of
    /// it starts with a space.
    /// </summary>
    public static string WithDummyPrefix(string document) => document.Length == 0 ? document : " " + document;

    public static Enumerator Split(ReadOnlySpan<char> text) => new(text);

    public ref struct Enumerator(ReadOnlySpan<char> text)
    {
        readonly ReadOnlySpan<char> _text = text;
        int _start, _end;

        public readonly ReadOnlySpan<char> Current => _text[_start.._end];

        public readonly Enumerator GetEnumerator() => this;

        public bool MoveNext()
        {
            if (_end >= _text.Length) return false;
            _start = _end;
            int i = _start;
            while (i < _text.Length && _text[i] == ' ') i++;
            while (i < _text.Length && _text[i] != ' ') i++;
            _end = i;
            return true;
        }
    }
}

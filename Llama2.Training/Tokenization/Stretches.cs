using System.Text;

namespace Llama2.Training.Tokenization;

/// <summary>
/// Cuts a document into the stretches of text that training learns merges on: its words (see <see cref="Words"/>,
/// after the dummy-prefix space), cut further between any two characters that no piece may hold side by side (a
/// digit and anything, letters and punctuation, two scripts: see <see cref="PieceShape.Join"/>). Every piece lies
/// within one stretch, so run.c's encoder never merges across one and each stretch's tokens depend on it alone.
/// Short stretches keep training fast: " said," is " said" and ",", a Chinese clause ends at its comma.
/// </summary>
internal static class Stretches
{
    static readonly PieceShape[] AsciiShapes = [.. Enumerable.Range(0, 128).Select(c => PieceShape.OfCharacter(new Rune(c)))];

    public static Enumerator Of(string document) => new(Words.WithDummyPrefix(document));

    public struct Enumerator(string text)
    {
        int _start, _end;

        public readonly ReadOnlySpan<char> Current => text.AsSpan(_start, _end - _start);

        public readonly Enumerator GetEnumerator() => this;

        public bool MoveNext()
        {
            if (_end >= text.Length) return false;
            _start = _end;
            Rune.DecodeFromUtf16(text.AsSpan(_start), out var first, out int length);
            var previous = ShapeOf(first);
            int i = _start + length;
            while (i < text.Length)
            {
                Rune.DecodeFromUtf16(text.AsSpan(i), out var c, out length);
                var shape = ShapeOf(c);
                if (PieceShape.Join(previous, shape, int.MaxValue) is null) break;
                previous = shape;
                i += length;
            }
            _end = i;
            return true;
        }

        static PieceShape ShapeOf(Rune c) => c.Value < 128 ? AsciiShapes[c.Value] : PieceShape.OfCharacter(c);
    }
}

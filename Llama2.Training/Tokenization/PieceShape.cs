using System.Globalization;
using System.Text;

namespace Llama2.Training.Tokenization;

/// <summary>
/// What the merge rules need to know about a piece, so that two pieces can be checked for joining without looking
/// at their text. The rules are SentencePiece's for a llama2.c vocabulary (split_by_whitespace,
/// allow_whitespace_only_pieces, split_digits, split_by_unicode_script): a space only starts a piece, or the piece is
/// spaces only; a digit is always a piece of its own; a piece holds one script; bytes never join anything.
/// </summary>
internal readonly record struct PieceShape(PieceKind Kind, int Length, bool LeadingSpace, int Script)
{
    /// <summary>The script of a piece whose characters take any script (combining marks only, or spaces).</summary>
    public const int AnyScript = -1;

    public static readonly PieceShape Byte = new(PieceKind.Byte, 1, false, AnyScript);

    public static PieceShape OfCharacter(Rune c) =>
        c.Value == ' ' ? new(PieceKind.Spaces, 1, true, AnyScript)
        : Rune.IsDigit(c) ? new(PieceKind.Digit, 1, false, AnyScript)
        : new(PieceKind.Text, 1, false, UnicodeScripts.Of(c));

    /// <summary>
    /// The shape of <paramref name="left"/> followed by <paramref name="right"/>, or null when the rules forbid that
    /// piece: it would cross a word boundary, hold a digit among other characters, mix scripts, or be longer than
    /// <paramref name="maxLength"/> characters.
    /// </summary>
    public static PieceShape? Join(PieceShape left, PieceShape right, int maxLength)
    {
        if (left.Kind is PieceKind.Byte or PieceKind.Digit || right.Kind is PieceKind.Byte or PieceKind.Digit) return null;
        int length = left.Length + right.Length;
        if (length > maxLength) return null;
        if (right.LeadingSpace)
            return left.Kind == PieceKind.Spaces && right.Kind == PieceKind.Spaces ? new(PieceKind.Spaces, length, true, AnyScript) : null;
        if (left.Kind == PieceKind.Spaces)
            return left.Length == 1 ? new(PieceKind.Text, length, true, right.Script) : null;
        if (left.Script != AnyScript && right.Script != AnyScript && left.Script != right.Script) return null;
        return new(PieceKind.Text, length, left.LeadingSpace, left.Script != AnyScript ? left.Script : right.Script);
    }
}

internal enum PieceKind : byte
{
    /// <summary>A byte-fallback token.</summary>
    Byte,
    /// <summary>A decimal digit (always alone).</summary>
    Digit,
    /// <summary>One or more spaces and nothing else.</summary>
    Spaces,
    /// <summary>Non-space characters of one script, after at most one leading space.</summary>
    Text,
}

/// <summary>
/// An approximation of the Unicode Script property, enough to keep pieces within one script as SentencePiece's
/// split_by_unicode_script does: letters of the common scripts by their ranges (Hiragana and Katakana count as Han, as
/// in SentencePiece), other letters by their 128-code-point block, combining marks take the script before them, and
/// everything else that is not a letter (punctuation, symbols, other whitespace, controls) is Common.
/// </summary>
internal static class UnicodeScripts
{
    const int Common = 0, Latin = 1, Greek = 2, Cyrillic = 3, Armenian = 4, Hebrew = 5, Arabic = 6, Georgian = 7,
        Hangul = 8, Han = 9, OtherBlock = 0x100;

    static readonly (int First, int Last, int Script)[] LetterRanges =
    [
        (0x0041, 0x024F, Latin), (0x0250, 0x02AF, Latin), (0x0370, 0x03FF, Greek), (0x0400, 0x052F, Cyrillic),
        (0x0531, 0x058F, Armenian), (0x0590, 0x05FF, Hebrew), (0x0600, 0x06FF, Arabic), (0x0750, 0x077F, Arabic),
        (0x08A0, 0x08FF, Arabic), (0x10A0, 0x10FF, Georgian), (0x1100, 0x11FF, Hangul), (0x1C80, 0x1C8F, Cyrillic),
        (0x1C90, 0x1CBF, Georgian), (0x1D00, 0x1DBF, Latin), (0x1E00, 0x1EFF, Latin), (0x1F00, 0x1FFF, Greek),
        (0x2C60, 0x2C7F, Latin), (0x2D00, 0x2D2F, Georgian), (0x2DE0, 0x2DFF, Cyrillic), (0x2E80, 0x2FDF, Han),
        (0x3005, 0x3007, Han), (0x3021, 0x3029, Han), (0x3038, 0x303B, Han), (0x3040, 0x30FF, Han),
        (0x3130, 0x318F, Hangul), (0x31F0, 0x31FF, Han), (0x3400, 0x4DBF, Han), (0x4E00, 0x9FFF, Han),
        (0xA640, 0xA69F, Cyrillic), (0xA720, 0xA7FF, Latin), (0xA960, 0xA97F, Hangul), (0xAB30, 0xAB6F, Latin),
        (0xAC00, 0xD7FF, Hangul), (0xF900, 0xFAFF, Han), (0xFB00, 0xFB06, Latin), (0xFB1D, 0xFB4F, Hebrew),
        (0xFB50, 0xFDFF, Arabic), (0xFE70, 0xFEFF, Arabic), (0xFF21, 0xFF3A, Latin), (0xFF41, 0xFF5A, Latin),
        (0xFF66, 0xFF9F, Han), (0xFFA0, 0xFFDC, Hangul), (0x20000, 0x3FFFF, Han),
    ];

    /// <summary>The script of a character, or <see cref="PieceShape.AnyScript"/> for a combining mark.</summary>
    public static int Of(Rune c)
    {
        switch (Rune.GetUnicodeCategory(c))
        {
            case UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark:
                return PieceShape.AnyScript;
            case UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter or UnicodeCategory.LetterNumber:
                int lo = 0, hi = LetterRanges.Length - 1;
                while (lo <= hi)
                {
                    int mid = (lo + hi) / 2;
                    var (first, last, script) = LetterRanges[mid];
                    if (c.Value < first) hi = mid - 1;
                    else if (c.Value > last) lo = mid + 1;
                    else return script;
                }
                return OtherBlock + (c.Value >> 7);
            default:
                return Common;
        }
    }
}

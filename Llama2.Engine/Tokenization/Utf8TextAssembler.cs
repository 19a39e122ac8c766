using System.Text;

namespace Llama2.Engine.Tokenization;

/// <summary>
/// Turns the byte pieces of generated tokens into text, holding back the bytes of a character that is split over
/// several byte tokens until it is whole. Invalid byte sequences become U+FFFD, so the output is always valid UTF-8.
/// (run.c prints such bytes one by one and drops the unprintable ones.)
/// </summary>
public sealed class Utf8TextAssembler
{
    readonly Decoder _decoder = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();
    readonly char[] _chars = new char[64];

    /// <summary>Appends bytes; returns the characters they complete (possibly empty).</summary>
    public string Append(ReadOnlySpan<byte> bytes)
    {
        var sb = default(StringBuilder);
        string? single = null;
        while (!bytes.IsEmpty)
        {
            _decoder.Convert(bytes, _chars, flush: false, out int used, out int written, out _);
            bytes = bytes[used..];
            var chunk = new string(_chars, 0, written);
            if (single is null && sb is null) single = chunk;
            else (sb ??= new StringBuilder(single)).Append(chunk);
        }
        return sb?.ToString() ?? single ?? string.Empty;
    }

    /// <summary>Ends the stream: an incomplete trailing character becomes U+FFFD.</summary>
    public string Flush()
    {
        _decoder.Convert(ReadOnlySpan<byte>.Empty, _chars, flush: true, out _, out int written, out _);
        return new string(_chars, 0, written);
    }
}

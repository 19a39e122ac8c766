using System.Text;

namespace Llama2.Bench.LoadTest;

/// <summary>
/// Reads the data of Server-Sent Events from a response body, one event at a time, as the SSE format says: lines
/// <c>data: ...</c> make up an event (several are joined with '\n'), a blank line ends it, comment lines
/// (<c>: keep-alive</c>) and other fields (event, id, retry) are skipped.
/// </summary>
sealed class ServerSentEventReader(Stream stream) : IDisposable
{
    // The stream is read as it arrives: ReadLineAsync returns a line as soon as its end is in, so an event is seen
    // when its bytes are, not when a buffer fills.
    readonly StreamReader reader = new(stream, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false),
        detectEncodingFromByteOrderMarks: true, bufferSize: 4096, leaveOpen: true);
    readonly StringBuilder data = new();
    bool hasData;

    /// <summary>
    /// The data of the next event, or null when the stream ends. An event cut off by the end of the stream (no blank
    /// line after it) is dropped, as the SSE format says: the caller sees the stream end without it.
    /// </summary>
    public async ValueTask<string?> ReadEventAsync(CancellationToken cancellationToken)
    {
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.Length == 0)
            {
                if (!hasData) continue; // an event without data lines is not dispatched
                string payload = data.ToString();
                data.Clear();
                hasData = false;
                return payload;
            }
            if (line[0] == ':') continue; // a comment

            int colon = line.IndexOf(':');
            var field = colon < 0 ? line.AsSpan() : line.AsSpan(0, colon);
            if (!field.SequenceEqual("data")) continue;
            ReadOnlySpan<char> value = colon < 0 ? [] : line.AsSpan(colon + 1);
            if (value.StartsWith(' ')) value = value[1..];
            if (hasData) data.Append('\n');
            data.Append(value);
            hasData = true;
        }
        return null;
    }

    public void Dispose() => reader.Dispose();
}

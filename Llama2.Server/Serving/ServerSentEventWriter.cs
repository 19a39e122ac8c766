using System.Buffers;
using System.Text.Json;

namespace Llama2.Server.Serving;

/// <summary>
/// Writes Server-Sent Events to a response: <c>data: </c> lines of JSON (or of raw text such as OpenAI's
/// <c>[DONE]</c>) and comment lines, each event in one write. One buffer serves every event of the stream.
/// </summary>
public sealed class ServerSentEventWriter(HttpResponse response, JsonSerializerOptions json, CancellationToken cancellationToken)
{
    static readonly byte[] DataPrefix = "data: "u8.ToArray();
    static readonly byte[] EventEnd = "\n\n"u8.ToArray();

    readonly ArrayBufferWriter<byte> _buffer = new(256);
    readonly Utf8JsonWriter _writer = new(Stream.Null, new JsonWriterOptions { Encoder = json.Encoder });

    /// <summary>An event whose data is <paramref name="item"/> as JSON.</summary>
    public ValueTask WriteJsonAsync<T>(T item)
    {
        _buffer.ResetWrittenCount();
        _buffer.Write(DataPrefix);
        _writer.Reset(_buffer);
        JsonSerializer.Serialize(_writer, item, json);
        _writer.Flush();
        _buffer.Write(EventEnd);
        return response.Body.WriteAsync(_buffer.WrittenMemory, cancellationToken);
    }

    /// <summary>An event whose data is <paramref name="utf8"/> as it is (one line).</summary>
    public ValueTask WriteDataAsync(ReadOnlySpan<byte> utf8)
    {
        _buffer.ResetWrittenCount();
        _buffer.Write(DataPrefix);
        _buffer.Write(utf8);
        _buffer.Write(EventEnd);
        return response.Body.WriteAsync(_buffer.WrittenMemory, cancellationToken);
    }

    /// <summary>A comment line (<c>: text</c>), which clients skip: a heartbeat.</summary>
    public ValueTask WriteCommentAsync(ReadOnlyMemory<byte> comment) => response.Body.WriteAsync(comment, cancellationToken);

    public Task FlushAsync() => response.Body.FlushAsync(cancellationToken);
}

using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Llama2.Server.Tests.TestData;

/// <summary>
/// Makes the connection of the streaming endpoints (POST /generate_stream, /v1/chat/completions, /v1/completions)
/// slow: every write of the response waits <see cref="DelayPerWrite"/> first (one write per token). With a small Model:TokenBufferSize the scheduler then pauses the sequence until the
/// client has taken its tokens, as it does behind a slow network, so a generation lasts as long as a test needs
/// whatever the speed of the model. Register it as an <see cref="IStartupFilter"/> (outermost middleware).
/// </summary>
public sealed class SlowLink : IStartupFilter
{
    static readonly string[] StreamingPaths = ["/generate_stream", "/v1/chat/completions", "/v1/completions"];

    long _delayTicks;

    public TimeSpan DelayPerWrite
    {
        get => TimeSpan.FromTicks(Volatile.Read(ref _delayTicks));
        set => Volatile.Write(ref _delayTicks, value.Ticks);
    }

    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.Use(async (http, nextMiddleware) =>
        {
            if (StreamingPaths.Any(path => http.Request.Path.StartsWithSegments(path))) http.Response.Body = new DelayedStream(http.Response.Body, this);
            await nextMiddleware(http);
        });
        next(app);
    };

    sealed class DelayedStream(Stream inner, SlowLink link) : Stream
    {
        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (link.DelayPerWrite > TimeSpan.Zero) await Task.Delay(link.DelayPerWrite, cancellationToken);
            await inner.WriteAsync(buffer, cancellationToken);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
        public override void Flush() => inner.Flush();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("synchronous writes");
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}

namespace Llama2.Engine.Download;

/// <summary>How far a download has come. <see cref="TotalBytes"/> is null when the server does not say.</summary>
public readonly record struct DownloadProgress(string FileName, long ReceivedBytes, long? TotalBytes, double BytesPerSecond)
{
    public double? Fraction => TotalBytes is > 0 ? (double)ReceivedBytes / TotalBytes.Value : null;

    public override string ToString()
    {
        const double MB = 1024 * 1024;
        var percent = Fraction is { } f ? $"{f * 100:F0}% " : "";
        var total = TotalBytes is { } t ? $" of {t / MB:F1} MB" : "";
        return $"{FileName}: {percent}{ReceivedBytes / MB:F1} MB{total} at {BytesPerSecond / MB:F1} MB/s";
    }
}

/// <summary>A download that failed; the message says what to do instead.</summary>
public sealed class DownloadException(string message, Exception? inner = null, System.Net.HttpStatusCode? statusCode = null)
    : Exception(message, inner)
{
    /// <summary>The server's answer when it refused the request (not when the connection failed).</summary>
    public System.Net.HttpStatusCode? StatusCode { get; } = statusCode;
}

using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text.Json;

namespace Llama2.Bench.LoadTest;

/// <summary>How a request ended. A disconnect is one the client meant (--disconnect-every), not an error.</summary>
enum RequestOutcome { Completed, Disconnected, Failed }

/// <summary>One request as the client saw it: Stopwatch timestamps, the gaps between its tokens, how it ended.</summary>
sealed class RequestRecord(int client)
{
    public int Client { get; } = client;
    public long Sent { get; set; }
    public long FirstToken { get; set; }
    public long LastToken { get; set; }
    public long Ended { get; set; }
    public int Tokens { get; set; }
    public List<double> TokenGapsMs { get; } = [];
    public RequestOutcome Outcome { get; set; }
    /// <summary>For a failure: http 429, error event (generation), connection failure, timeout, incomplete stream, protocol.</summary>
    public string? ErrorKind { get; private set; }
    public string? ErrorMessage { get; private set; }

    public void Fail(string kind, string message)
    {
        Outcome = RequestOutcome.Failed;
        ErrorKind = kind;
        ErrorMessage = message;
    }
}

/// <summary>
/// <c>Llama2.Bench loadtest</c>: N clients, each sending a streaming request to POST /generate_stream, reading it to
/// its end and sending the next, until the request budget or the duration runs out; then the report.
/// </summary>
sealed class LoadTestRunner
{
    readonly LoadTestOptions options;
    readonly HttpClient http;
    readonly Uri endpoint;
    readonly CancellationToken timeout;
    readonly RequestRecord?[] records;
    long measurementStart;
    int nextRequest;
    int finishedRequests;

    LoadTestRunner(LoadTestOptions options, HttpClient http, CancellationToken timeout)
    {
        this.options = options;
        this.http = http;
        this.timeout = timeout;
        endpoint = new Uri(options.Url, "generate_stream");
        records = new RequestRecord?[options.Requests];
    }

    /// <summary>Parses the options, runs the load test, prints the report; the exit code (0 = no errors, 1 = errors, 2 = bad options).</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        if (args is ["-h"] or ["--help"])
        {
            Console.WriteLine(LoadTestOptions.Usage);
            return 0;
        }
        if (!LoadTestOptions.TryParse(args, out var options, out var problem))
        {
            Console.Error.WriteLine($"loadtest: {problem}");
            Console.Error.WriteLine(LoadTestOptions.Usage);
            return 2;
        }

        Console.WriteLine(LoadTestReport.Header(options));
        using var timeout = new CancellationTokenSource(options.HardTimeout);
        using var http = CreateClient();
        var runner = new LoadTestRunner(options, http, timeout.Token);
        await runner.WarmUpAsync();
        await runner.MeasureAsync();

        var report = LoadTestReport.Create(runner.records.OfType<RequestRecord>().ToList());
        report.Write(Console.Out, options);
        return report.Errors == 0 && report.Requests > 0 ? 0 : 1;
    }

    /// <summary>
    /// Loopback only, whatever the URL said: no proxy (another machine), no redirects (could point anywhere), and the
    /// connection itself refuses an address that is not loopback (a host name could resolve elsewhere).
    /// </summary>
    static HttpClient CreateClient() => new(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        ConnectCallback = ConnectToLoopbackAsync,
        // An abandoned stream closes its connection, so the server sees the disconnect, instead of being read to its
        // end in the background for reuse of the connection.
        MaxResponseDrainSize = 0,
    })
    {
        Timeout = Timeout.InfiniteTimeSpan, // the hard timeout covers the streams, which HttpClient.Timeout would not
    };

    static async ValueTask<Stream> ConnectToLoopbackAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        string host = context.DnsEndPoint.Host;
        var addresses = await Dns.GetHostAddressesAsync(host, cancellationToken);
        if (addresses.Length == 0 || !addresses.All(IPAddress.IsLoopback))
            throw new HttpRequestException($"refusing to connect to {host} ({string.Join(", ", addresses.Select(a => a.ToString()))}): loopback only");
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(addresses, context.DnsEndPoint.Port, cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Requests sent alone, not measured: the server's JIT and the client's connection warm up.</summary>
    async Task WarmUpAsync()
    {
        for (int i = 0; i < options.Warmup && !timeout.IsCancellationRequested; i++)
        {
            // Seeds after the measured requests' ones, so the measured requests keep seed + i.
            var record = await StreamAsync(new RequestRecord(client: 0), options.Seed + (ulong)(options.Requests + i), abandonAfterFirstToken: false);
            if (record.Outcome == RequestOutcome.Failed)
                Console.Error.WriteLine($"loadtest: warm-up request {i + 1} failed: {record.ErrorKind}: {record.ErrorMessage}");
        }
    }

    async Task MeasureAsync()
    {
        measurementStart = Stopwatch.GetTimestamp();
        using var stopProgress = new CancellationTokenSource();
        var progress = ReportProgressAsync(stopProgress.Token);
        await Task.WhenAll(Enumerable.Range(0, options.Clients).Select(client => Task.Run(() => ClientAsync(client))));
        await stopProgress.CancelAsync();
        await progress;
    }

    /// <summary>One client: the next request number from the shared budget, its stream read to the end, and again.</summary>
    async Task ClientAsync(int client)
    {
        while (!timeout.IsCancellationRequested
            && (options.Duration is not { } duration || Stopwatch.GetElapsedTime(measurementStart) < duration))
        {
            int index = Interlocked.Increment(ref nextRequest) - 1;
            if (index >= options.Requests) return;
            bool abandon = options.DisconnectEvery is { } k && (index + 1) % k == 0;
            records[index] = await StreamAsync(new RequestRecord(client), options.Seed + (ulong)index, abandon);
            Interlocked.Increment(ref finishedRequests);
        }
    }

    /// <summary>
    /// One request to /generate_stream, timed from just before it is sent; every token event is stamped as soon as it
    /// is read, before its JSON is parsed. The stream must end with the final event (generated_text and details),
    /// whose generated_tokens must equal the token events received.
    /// </summary>
    async Task<RequestRecord> StreamAsync(RequestRecord record, ulong seed, bool abandonAfterFirstToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, endpoint) { Content = Body(seed) };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        record.Sent = Stopwatch.GetTimestamp();
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                string body = await response.Content.ReadAsStringAsync(timeout);
                record.Fail($"http {(int)response.StatusCode}", ErrorMessage(body) ?? response.ReasonPhrase ?? "");
                return record;
            }

            await using var stream = await response.Content.ReadAsStreamAsync(timeout);
            using var events = new ServerSentEventReader(stream);
            bool final = false;
            while (await events.ReadEventAsync(timeout) is { } data)
            {
                long now = Stopwatch.GetTimestamp();
                if (final)
                {
                    record.Fail("protocol", "an event after the final one");
                    return record;
                }
                using var json = JsonDocument.Parse(data);
                var root = json.RootElement;
                if (root.TryGetProperty("error", out var error))
                {
                    string type = root.TryGetProperty("error_type", out var t) && t.ValueKind == JsonValueKind.String ? $" ({t.GetString()})" : "";
                    record.Fail($"error event{type}", error.ToString());
                    return record;
                }
                if (!root.TryGetProperty("token", out var token) || token.ValueKind != JsonValueKind.Object)
                {
                    record.Fail("protocol", $"an event without a token: {data}");
                    return record;
                }

                if (record.Tokens == 0) record.FirstToken = now;
                else record.TokenGapsMs.Add(Stopwatch.GetElapsedTime(record.LastToken, now).TotalMilliseconds);
                record.LastToken = now;
                record.Tokens++;
                if (root.TryGetProperty("index", out var index) && index.GetInt32() != record.Tokens)
                {
                    record.Fail("protocol", $"token event {record.Tokens} has index {index.GetInt32()}");
                    return record;
                }

                if (root.TryGetProperty("generated_text", out var text) && text.ValueKind == JsonValueKind.String)
                {
                    final = true;
                    int reported = root.GetProperty("details").GetProperty("generated_tokens").GetInt32();
                    if (reported != record.Tokens)
                    {
                        record.Fail("protocol", $"details.generated_tokens is {reported} after {record.Tokens} token events");
                        return record;
                    }
                }
                else if (abandonAfterFirstToken)
                {
                    // Leaving disposes the response mid-stream, which closes the connection (MaxResponseDrainSize 0).
                    record.Outcome = RequestOutcome.Disconnected;
                    return record;
                }
            }

            if (final) record.Outcome = RequestOutcome.Completed;
            else record.Fail("incomplete stream", $"the stream ended after {record.Tokens} tokens without its final event");
        }
        catch (Exception e) when (timeout.IsCancellationRequested && e is OperationCanceledException or IOException or HttpRequestException)
        {
            record.Fail("timeout", $"cancelled by the hard timeout of {options.HardTimeout.TotalSeconds:F0} s");
        }
        catch (HttpRequestException e)
        {
            record.Fail("connection failure", e.Message);
        }
        catch (IOException e)
        {
            record.Fail("connection failure", e.Message);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
        {
            record.Fail("protocol", $"malformed event: {e.Message}");
        }
        finally
        {
            record.Ended = Stopwatch.GetTimestamp();
        }
        return record;
    }

    /// <summary>TGI's request: {"inputs", "parameters": {"max_new_tokens", "temperature", "top_p", "seed"}}.</summary>
    ByteArrayContent Body(ulong seed)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("inputs", options.Prompt);
            json.WriteStartObject("parameters");
            json.WriteNumber("max_new_tokens", options.MaxNewTokens);
            json.WriteNumber("temperature", options.Temperature);
            json.WriteNumber("top_p", options.TopP);
            json.WriteNumber("seed", seed);
            json.WriteEndObject();
            json.WriteEndObject();
        }
        var content = new ByteArrayContent(buffer.WrittenSpan.ToArray());
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }

    /// <summary>The "error" of TGI's error body, or null when the body is not one.</summary>
    static string? ErrorMessage(string body)
    {
        if (string.IsNullOrWhiteSpace(body)) return null;
        try
        {
            using var json = JsonDocument.Parse(body);
            return json.RootElement.ValueKind == JsonValueKind.Object && json.RootElement.TryGetProperty("error", out var error)
                ? error.ToString()
                : null;
        }
        catch (JsonException)
        {
            return body.Length > 200 ? body[..200] : body;
        }
    }

    /// <summary>Finished/total on stderr, at most once a second and only when it moved.</summary>
    async Task ReportProgressAsync(CancellationToken stop)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        int shown = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                int finished = Volatile.Read(ref finishedRequests);
                if (finished == shown) continue;
                shown = finished;
                string of = options.Duration is { } duration ? $" of {duration.TotalSeconds:0.#}" : "";
                Console.Error.WriteLine($"loadtest: {finished}/{options.Requests} requests finished, {Stopwatch.GetElapsedTime(measurementStart).TotalSeconds:F0}{of} s");
            }
        }
        catch (OperationCanceledException)
        {
            // measurement over
        }
    }
}

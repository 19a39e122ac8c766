namespace Llama2.Server.Hosting;

/// <summary>
/// <c>Llama2.Server --healthcheck [URL]</c>: asks a running server's /health and exits 0 when it is ready, 1 otherwise.
/// The container's HEALTHCHECK uses it, since the runtime image has no curl.
/// </summary>
public static class HealthCheckCommand
{
    public const string Flag = "--healthcheck";
    const string DefaultUrl = "http://127.0.0.1:8080/health";

    public static bool IsRequested(string[] args) => args is [Flag, ..];

    public static async Task<int> RunAsync(string[] args)
    {
        var url = args.Length > 1 ? args[1] : DefaultUrl;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            using var response = await http.GetAsync(url);
            Console.WriteLine($"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            return response.IsSuccessStatusCode ? 0 : 1;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or InvalidOperationException or UriFormatException)
        {
            Console.WriteLine($"unhealthy: {e.Message}");
            return 1;
        }
    }
}

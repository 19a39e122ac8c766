using Llama2.Server.Model;

namespace Llama2.Server.Hosting;

public static class HostingExtensions
{
    /// <summary>
    /// The content root (where appsettings.json and wwwroot are) is the working directory, as usual, when it holds
    /// appsettings.json (dotnet run, the container's /app); otherwise the app's own folder, so that
    /// <c>dotnet path/to/Llama2.Server.dll</c> run from anywhere still has its configuration and its log.
    /// </summary>
    public static WebApplicationOptions Options(string[] args) => new()
    {
        Args = args,
        ContentRootPath = File.Exists("appsettings.json") ? null : AppContext.BaseDirectory,
    };

    /// <summary>
    /// Listens on <paramref name="port"/> on every interface unless the address is configured the ASP.NET way
    /// (--urls, ASPNETCORE_URLS, ASPNETCORE_HTTP_PORTS, Kestrel:Endpoints).
    /// </summary>
    public static WebApplicationBuilder UseDefaultPort(this WebApplicationBuilder builder, int port)
    {
        var config = builder.Configuration;
        bool configured = !string.IsNullOrEmpty(config["urls"]) || !string.IsNullOrEmpty(config["http_ports"])
            || !string.IsNullOrEmpty(config["https_ports"]) || config.GetSection("Kestrel:Endpoints").Exists();
        if (!configured) builder.WebHost.UseUrls($"http://*:{port}");
        return builder;
    }

    /// <summary>
    /// Runs until stopped. Configuration that fails validation, or an address that cannot be bound, ends start-up
    /// with one log line instead of a stack trace (the host's own "Hosting failed to start" error, with its trace,
    /// is silenced in appsettings.json for that reason). Returns the process exit code.
    /// </summary>
    public static async Task<int> RunOrExplainAsync(this WebApplication app)
    {
        // Options are validated here, before the host starts: a failed start stops the logger with it, and the
        // problem could no longer be logged.
        try
        {
            app.Services.GetService<IStartupValidator>()?.Validate();
            await app.StartAsync();
            await app.WaitForShutdownAsync();
            return ModelFailed(app) ? 1 : 0;
        }
        catch (OperationCanceledException) when (ModelFailed(app))
        {
            return 1; // the model failed to load before the server had finished starting; ModelHost logged why
        }
        catch (OptionsValidationException e)
        {
            app.Logger.LogCritical("Invalid configuration: {Problems}", string.Join("; ", e.Failures));
            return 1;
        }
        catch (IOException e)
        {
            app.Logger.LogCritical("Cannot start the server: {Problem}", e.Message);
            return 1;
        }
        catch (Exception e)
        {
            app.Logger.LogCritical(e, "The server stopped on an unexpected error");
            return 1;
        }
        finally
        {
            await app.DisposeAsync();
        }
    }

    static bool ModelFailed(WebApplication app) => app.Services.GetRequiredService<ModelHost>().State == ModelState.Failed;
}

using Microsoft.Extensions.FileProviders;

namespace Llama2.Server.Playground;

public static class PlaygroundExtensions
{
    /// <summary>
    /// Serves the browser playground (wwwroot/: index.html at <c>/</c>, plain JS modules and CSS, no build step).
    /// The files are embedded in the assembly, so the page is there however the server is started — dotnet run,
    /// a build or publish folder, the container — whatever the working directory. Browsers revalidate them on every
    /// load (ETag), so a new server version is picked up at once.
    /// </summary>
    public static IApplicationBuilder UsePlayground(this IApplicationBuilder app)
    {
        var files = new EmbeddedFileProvider(typeof(PlaygroundExtensions).Assembly, "Llama2.Server.wwwroot");
        app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = files });
        return app.UseStaticFiles(new StaticFileOptions
        {
            FileProvider = files,
            OnPrepareResponse = file => file.Context.Response.Headers.CacheControl = "no-cache",
        });
    }
}

using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;

namespace Llama2.Server.Tests.TestData;

/// <summary>
/// The real server on Kestrel, listening on a free port of 127.0.0.1 (not the in-memory TestServer), for clients
/// that need a socket: a browser. Settings as for <see cref="ServerFactory"/>.
/// </summary>
public sealed class LoopbackServer : IAsyncDisposable
{
    readonly ServerFactory _factory;

    LoopbackServer(ServerFactory factory, Uri address, HttpClient client)
    {
        _factory = factory;
        Address = address;
        Client = client;
    }

    /// <summary>Where the server listens, e.g. http://127.0.0.1:41234/.</summary>
    public Uri Address { get; }

    /// <summary>A client of <see cref="Address"/>.</summary>
    public HttpClient Client { get; }

    public IServiceProvider Services => _factory.Services;

    /// <summary>Starts the server and waits (polling /health, bounded) until the model is loaded.</summary>
    public static async Task<LoopbackServer> StartAsync(IReadOnlyDictionary<string, string?> settings,
        Action<IServiceCollection>? services = null)
    {
        var factory = new ServerFactory(settings, services);
        HttpClient? client = null;
        try
        {
            factory.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
            factory.StartServer();
            var address = factory.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>()
                .Addresses.Select(a => new Uri(a)).Single();
            client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) };
            await ServerFactory.WaitUntilReadyAsync(client);
            return new LoopbackServer(factory, address, client);
        }
        catch
        {
            client?.Dispose();
            await factory.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _factory.DisposeAsync();
    }
}

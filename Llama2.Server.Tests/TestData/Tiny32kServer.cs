namespace Llama2.Server.Tests.TestData;

/// <summary>
/// One in-memory server on tiny32k shared by a test class. Created on first use inside a test, so a missing
/// ../shared skips (or, under CI, fails) that test rather than breaking the fixture.
/// </summary>
public sealed class Tiny32kServer : IAsyncDisposable
{
    readonly SemaphoreSlim _gate = new(1, 1);
    ServerFactory? _factory;
    HttpClient? _client;

    public ServerFactory Factory => _factory ?? throw new InvalidOperationException("call ClientAsync first");

    public async Task<HttpClient> ClientAsync()
    {
        var tiny32k = SharedData.Tiny32k; // skips or fails here when the model is missing
        _ = tiny32k;
        await _gate.WaitAsync(TestContext.Current.CancellationToken);
        try
        {
            _factory ??= ServerFactory.Tiny32k();
            return _client ??= await _factory.CreateReadyClientAsync();
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _client?.Dispose();
        if (_factory is not null) await _factory.DisposeAsync();
        _gate.Dispose();
    }
}

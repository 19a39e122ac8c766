using Llama2.Engine.Download;
using Llama2.Engine.Kernels;
using Llama2.Engine.Model;
using Llama2.Engine.Scheduling;
using Microsoft.Extensions.Options;

namespace Llama2.Server.Model;

/// <summary>
/// Loads the model in the background at start-up (so the server answers /health with 503 meanwhile) and owns it and
/// its scheduler for the life of the process. A file that cannot be loaded stops the application with one log line
/// (and exit code 1, see HostingExtensions).
/// </summary>
public sealed class ModelHost(
    IModelLoader loader,
    ModelDownloads downloads,
    IOptions<ModelOptions> options,
    IOptions<SchedulerOptions> schedulerOptions,
    IHostApplicationLifetime lifetime,
    ILogger<ModelHost> logger) : IHostedService
{
    // Read when loading starts, not at construction: resolving this service must never throw options validation
    // errors (start-up reports those once, in HostingExtensions).
    ModelOptions _options = null!;
    SchedulerOptions _scheduling = null!;
    readonly CancellationTokenSource _stopping = new();
    LoadedModel? _loaded;
    Task? _loading;

    public ModelState State { get; private set; } = ModelState.Loading;

    /// <summary>Download progress while <see cref="State"/> is Downloading.</summary>
    public string? Detail => State == ModelState.Downloading ? downloads.Status : null;

    /// <summary>The loaded model; null while loading, after a failed load, and once stopping.</summary>
    public LoadedModel? Loaded => Volatile.Read(ref _loaded);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _options = options.Value;
        _scheduling = schedulerOptions.Value;
        _loading = Task.Run(LoadAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    async Task LoadAsync()
    {
        try
        {
            if (ModelDownloads.AnyNeeded(_options))
            {
                State = ModelState.Downloading;
                await downloads.FetchMissingAsync(_options, _stopping.Token);
                State = ModelState.Loading;
            }
            if (_options.Threads > 0) Workers.ThreadCount = _options.Threads;
            var model = loader.Load(_options);
            var warmUp = System.Diagnostics.Stopwatch.StartNew();
            model.WarmUp(_scheduling.MaxConcurrentSequences); // still "loading": the first requests get optimised kernels
            var scheduler = new GenerationScheduler(model, _scheduling);
            var config = model.Config;
            if (model.Checkpoint.RepackedBytes > 0)
                logger.LogInformation("Repacked the GGUF file's Q8_0 matrices into llama2.c's int8 layout at load: {RepackedBytes} bytes in memory",
                    model.Checkpoint.RepackedBytes);
            logger.LogInformation(
                "Loaded {Checkpoint} ({Format}, {WeightType} weights, {FileBytes} bytes, {Parameters} parameters, quantization {Quantization}) " +
                "in {LoadMs:0.0} ms: {Config}; {Slots} sequence slots, queue {Queue}, {Threads} threads; warmed up in {WarmUpMs:0} ms",
                model.Checkpoint.Path, model.Checkpoint.Format, model.Checkpoint.WeightType, model.Checkpoint.FileBytes, config.ParameterCount,
                model.Checkpoint.Quantization,
                model.LoadTime.TotalMilliseconds, config.ToString(), _scheduling.MaxConcurrentSequences, _scheduling.MaxQueueLength,
                Workers.ThreadCount, warmUp.Elapsed.TotalMilliseconds);
            Volatile.Write(ref _loaded, new LoadedModel(model, scheduler, Path.GetFileNameWithoutExtension(model.Checkpoint.Path)));
            State = ModelState.Ready;
        }
        catch (CheckpointFormatException e)
        {
            Fail(e.Message);
        }
        catch (DownloadException e)
        {
            Fail(e.Message);
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            logger.LogInformation("Stopped while downloading; the partial file is kept and resumed on the next start");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or OutOfMemoryException)
        {
            Fail(e.Message);
        }
    }

    void Fail(string problem)
    {
        State = ModelState.Failed;
        logger.LogCritical("Cannot load the model: {Problem}", problem);
        lifetime.StopApplication();
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        if (_loading is not null) await _loading.WaitAsync(cancellationToken);
        if (Interlocked.Exchange(ref _loaded, null) is { } loaded)
        {
            await loaded.Scheduler.DisposeAsync();
            loaded.Model.Dispose();
        }
    }
}

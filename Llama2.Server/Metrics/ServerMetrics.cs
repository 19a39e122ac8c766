using System.Globalization;
using Llama2.Server.Model;
using Prometheus;

namespace Llama2.Server.Metrics;

/// <summary>
/// The server's Prometheus metrics, in a registry of its own (not prometheus-net's static default one), so that every
/// host in a process — tests start many — counts only its own requests. Scraped at GET /metrics.
/// </summary>
public sealed class ServerMetrics
{
    static readonly double[] FirstTokenBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
    static readonly double[] TokenBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
    static readonly double[] RequestBuckets = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

    static readonly string[] ShapeLabels =
        ["model_id", "dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len", "parameters", "quantization"];

    readonly ModelHost _host;
    LoadedModel? _published;

    public ServerMetrics(ModelHost host)
    {
        _host = host;
        Registry = Prometheus.Metrics.NewCustomRegistry();
        Factory = Prometheus.Metrics.WithCustomRegistry(Registry);
        DotNetStats.Register(Registry); // process_* and dotnet_* basics

        PromptTokens = Factory.CreateCounter("llama2_prompt_tokens_total",
            "Prompt tokens (BOS included) of the generation requests accepted.");
        GeneratedTokens = Factory.CreateCounter("llama2_generated_tokens_total",
            "Tokens generated and handed to clients, counted as they are produced.");
        Generations = Factory.CreateCounter("llama2_generations_total",
            "Generation requests ended, by endpoint and finish reason (length, eos_token, stop_sequence; cancelled when " +
            "the client went away, error when generation failed).",
            new CounterConfiguration { LabelNames = ["endpoint", "finish_reason"] });
        TimeToFirstToken = Factory.CreateHistogram("llama2_time_to_first_token_seconds",
            "From accepting a request to its first token: queue time plus prompt processing.",
            new HistogramConfiguration { Buckets = FirstTokenBuckets });
        TimePerOutputToken = Factory.CreateHistogram("llama2_time_per_output_token_seconds",
            "Mean time per generated token after the first, one observation per request of two tokens or more.",
            new HistogramConfiguration { Buckets = TokenBuckets });
        RequestDuration = Factory.CreateHistogram("llama2_request_duration_seconds",
            "From accepting a generation request to its end (last token sent, client gone, or failure), by endpoint.",
            new HistogramConfiguration { LabelNames = ["endpoint"], Buckets = RequestBuckets });
        QueueTime = Factory.CreateHistogram("llama2_queue_time_seconds",
            "Time generation requests waited for a sequence slot.",
            new HistogramConfiguration { Buckets = FirstTokenBuckets });
        ForwardPasses = Factory.CreateCounter("llama2_forward_passes_total",
            "Forward passes of the model; each carries every active sequence (continuous batching).");
        ForwardPassTokens = Factory.CreateCounter("llama2_forward_pass_tokens_total",
            "Tokens fed through the forward passes (one per decoding sequence plus prompt chunks); over llama2_forward_passes_total, the mean batch size.");
        QueueDepth = Factory.CreateGauge("llama2_queue_depth", "Requests waiting for a sequence slot.");
        ActiveSequences = Factory.CreateGauge("llama2_active_sequences",
            "Sequences holding a slot (generating, or paused behind a slow client).");
        SequenceSlots = Factory.CreateGauge("llama2_sequence_slots", "Sequences that can be generated at once.");
        ModelLoaded = Factory.CreateGauge("llama2_model_loaded",
            "1 once the model is loaded and served, with its shape and weight format as labels; absent while it loads.",
            new GaugeConfiguration { LabelNames = ShapeLabels });

        // Gauges read the scheduler at scrape time rather than being kept up to date on every change.
        Registry.AddBeforeCollectCallback(UpdateGauges);
    }

    /// <summary>The registry GET /metrics exports (and the HTTP request metrics are created in).</summary>
    public CollectorRegistry Registry { get; }

    /// <summary>Creates metrics in <see cref="Registry"/>.</summary>
    public IMetricFactory Factory { get; }

    public Counter PromptTokens { get; }
    public Counter GeneratedTokens { get; }
    public Counter Generations { get; }
    public Histogram TimeToFirstToken { get; }
    public Histogram TimePerOutputToken { get; }
    public Histogram RequestDuration { get; }
    public Histogram QueueTime { get; }
    public Counter ForwardPasses { get; }
    public Counter ForwardPassTokens { get; }
    public Gauge QueueDepth { get; }
    public Gauge ActiveSequences { get; }
    public Gauge SequenceSlots { get; }
    public Gauge ModelLoaded { get; }

    void UpdateGauges()
    {
        if (_host.Loaded is not { } loaded)
        {
            QueueDepth.Set(0);
            ActiveSequences.Set(0);
            return;
        }
        QueueDepth.Set(loaded.Scheduler.QueueDepth);
        ActiveSequences.Set(loaded.Scheduler.ActiveSequences);
        ForwardPasses.IncTo(loaded.Scheduler.ForwardPasses);
        ForwardPassTokens.IncTo(loaded.Scheduler.TokensFed);
        if (ReferenceEquals(Volatile.Read(ref _published), loaded)) return;

        var inv = CultureInfo.InvariantCulture;
        var c = loaded.Model.Config;
        ModelLoaded.WithLabels(loaded.ModelId, c.Dim.ToString(inv), c.HiddenDim.ToString(inv), c.NLayers.ToString(inv),
            c.NHeads.ToString(inv), c.NKvHeads.ToString(inv), c.VocabSize.ToString(inv), c.SeqLen.ToString(inv),
            c.ParameterCount.ToString(inv), loaded.Model.Checkpoint.Quantization).Set(1);
        SequenceSlots.Set(loaded.Scheduler.Options.MaxConcurrentSequences);
        Volatile.Write(ref _published, loaded);
    }
}

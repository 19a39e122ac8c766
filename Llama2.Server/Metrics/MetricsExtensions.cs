using Prometheus;

namespace Llama2.Server.Metrics;

public static class MetricsExtensions
{
    /// <summary>The server's metrics registry (<see cref="ServerMetrics"/>), and what it observes of generations.</summary>
    public static IServiceCollection AddServerMetrics(this IServiceCollection services) => services
        .AddSingleton<ServerMetrics>()
        .AddSingleton<IGenerationObserver, GenerationMetrics>();

    /// <summary>
    /// Counts HTTP requests by endpoint (route), method and status code, and times them (prometheus-net's
    /// http_requests_received_total, http_request_duration_seconds, http_requests_in_progress). Goes before the
    /// error handler, so it sees the status code the client gets.
    /// </summary>
    public static IApplicationBuilder UseServerMetrics(this IApplicationBuilder app)
    {
        var metrics = app.ApplicationServices.GetRequiredService<ServerMetrics>();
        return app.UseHttpMetrics(options =>
        {
            // The library's metrics, without its MVC labels (controller, action), which are always empty here.
            options.SetMetricFactory(metrics.Factory);
            options.RequestCount.Counter = metrics.Factory.CreateCounter("http_requests_received_total",
                "HTTP requests answered, by status code, method and endpoint (route; empty for the playground's files).",
                new CounterConfiguration { LabelNames = ["code", "method", "endpoint"] });
            options.RequestDuration.Histogram = metrics.Factory.CreateHistogram("http_request_duration_seconds",
                "Time to answer HTTP requests (whole streams included), by status code, method and endpoint.",
                new HistogramConfiguration
                {
                    LabelNames = ["code", "method", "endpoint"],
                    Buckets = Histogram.ExponentialBuckets(0.001, 2, 16),
                });
            options.InProgress.Gauge = metrics.Factory.CreateGauge("http_requests_in_progress",
                "HTTP requests being answered, by method and endpoint.",
                new GaugeConfiguration { LabelNames = ["method", "endpoint"] });
        });
    }

    /// <summary>
    /// GET /metrics in Prometheus text format (OpenMetrics when the scraper asks for it): llama2_* generation metrics,
    /// http_* request metrics, process_* and dotnet_* basics.
    /// </summary>
    public static IEndpointRouteBuilder MapServerMetrics(this IEndpointRouteBuilder routes)
    {
        var metrics = routes.ServiceProvider.GetRequiredService<ServerMetrics>();
        routes.MapMetrics("/metrics", metrics.Registry).WithDisplayName("Metrics");
        return routes;
    }
}

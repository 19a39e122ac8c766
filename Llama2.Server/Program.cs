using Llama2.Server.Generation;
using Llama2.Server.Health;
using Llama2.Server.Hosting;
using Llama2.Server.Info;
using Llama2.Server.Logging;
using Llama2.Server.Metrics;
using Llama2.Server.Model;
using Llama2.Server.OpenAI;
using Llama2.Server.Playground;
using Llama2.Server.Tokenization;

if (HealthCheckCommand.IsRequested(args)) return await HealthCheckCommand.RunAsync(args);

var builder = WebApplication.CreateBuilder(HostingExtensions.Options(args));
builder.AddLogging();
builder.UseDefaultPort(8080);
builder.Services.AddModel(builder.Configuration);
builder.Services.AddApi(builder.Configuration);
builder.Services.AddServing();
builder.Services.AddGeneration();
builder.Services.AddOpenAI();
builder.Services.AddApiDocumentation();
builder.Services.AddServerMetrics();

var app = builder.Build();
app.UseRequestLogging();
app.UseServerMetrics();
app.UseErrorResponses();
app.UseRequestBodyLimit();
app.UsePlayground();
app.MapApiDocumentation();
app.MapHealth();
app.MapInfo();
app.MapGeneration();
app.MapOpenAI();
app.MapTokenize();
app.MapServerMetrics();

return await app.RunOrExplainAsync();

/// <summary>The composition root; public so tests can host it with WebApplicationFactory.</summary>
public partial class Program;

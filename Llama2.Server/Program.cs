using Llama2.Server.Api;
using Llama2.Server.Errors;
using Llama2.Server.Generation;
using Llama2.Server.Health;
using Llama2.Server.Hosting;
using Llama2.Server.Info;
using Llama2.Server.Logging;
using Llama2.Server.Model;
using Llama2.Server.OpenApi;
using Llama2.Server.Tokenization;

if (HealthCheckCommand.IsRequested(args)) return await HealthCheckCommand.RunAsync(args);

var builder = WebApplication.CreateBuilder(args);
builder.AddLogging();
builder.UseDefaultPort(8080);
builder.Services.AddModel(builder.Configuration);
builder.Services.AddApi(builder.Configuration);
builder.Services.AddApiDocumentation();

var app = builder.Build();
app.UseRequestLogging();
app.UseErrorResponses();
app.UseRequestBodyLimit();
app.MapApiDocumentation();
app.MapHealth();
app.MapInfo();
app.MapGeneration();
app.MapTokenize();

return await app.RunOrExplainAsync();

/// <summary>The composition root; public so tests can host it with WebApplicationFactory.</summary>
public partial class Program;

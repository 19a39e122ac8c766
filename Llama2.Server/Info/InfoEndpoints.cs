using System.Reflection;
using Llama2.Engine.Kernels;
using Llama2.Server.Api;
using Llama2.Server.Errors;
using Llama2.Server.Model;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Llama2.Server.Info;

public static class InfoEndpoints
{
    static readonly string Version =
        typeof(InfoEndpoints).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";

    /// <summary>GET /info: the model, the limits and the current load.</summary>
    public static IEndpointRouteBuilder MapInfo(this IEndpointRouteBuilder routes)
    {
        routes.MapGroup("").WithTags("Info").RequireLoadedModel(TgiErrors.Result)
            .MapGet("/info", Info)
            .WithName("Info")
            .WithSummary("Model and server information")
            .WithDescription("TGI's /info fields (model_id, max_input_tokens, max_total_tokens, max_stop_sequences, " +
                "version, ...) plus context_shift (Model:ContextShift), the model's shape, the queue depth and the active sequences. 503 while the model loads.")
            .ProducesTgiErrors(StatusCodes.Status503ServiceUnavailable);
        return routes;
    }

    static Ok<InfoResponse> Info(HttpContext http, IOptions<ModelOptions> modelOptions, IOptions<ApiOptions> api)
    {
        var loaded = http.LoadedModel();
        var scheduling = loaded.Scheduler.Options;
        var model = loaded.Model;
        var c = model.Config;
        return TypedResults.Ok(new InfoResponse(
            loaded.ModelId, model.Checkpoint.WeightType, model.Checkpoint.Format, model.Checkpoint.Quantization, "cpu",
            scheduling.MaxConcurrentSequences + scheduling.MaxQueueLength, 1, api.Value.MaxStopSequences,
            loaded.Scheduler.ContextLength - 1, loaded.Scheduler.ContextLength, modelOptions.Value.MaxNewTokens,
            modelOptions.Value.ContextShift,
            scheduling.MaxConcurrentSequences, scheduling.MaxQueueLength,
            loaded.Scheduler.QueueDepth, loaded.Scheduler.ActiveSequences, Workers.ThreadCount,
            "llama2-dotnet", Version,
            new ModelInfo(c.Dim, c.HiddenDim, c.NLayers, c.NHeads, c.NKvHeads, c.VocabSize, c.SeqLen, c.SharedClassifier,
                c.ParameterCount, model.Checkpoint.FileBytes, model.LoadTime.TotalMilliseconds)));
    }
}

using Llama2.Engine.Scheduling;
using Microsoft.Extensions.Options;

namespace Llama2.Server.Model;

public static class ModelServiceCollectionExtensions
{
    /// <summary>
    /// Binds, completes (<see cref="DefaultModelPaths"/>) and validates <see cref="ModelOptions"/> and the scheduler's <see cref="SchedulerOptions"/> (both from the
    /// <c>Model</c> section) at start-up, and loads the model in the background.
    /// </summary>
    public static IServiceCollection AddModel(this IServiceCollection services, IConfiguration configuration)
    {
        var section = configuration.GetSection(ModelOptions.Section);
        services.AddOptions<ModelOptions>().Bind(section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IPostConfigureOptions<ModelOptions>, DefaultModelPaths>();
        services.AddSingleton<IValidateOptions<ModelOptions>, ModelFilesValidator>();
        services.AddOptions<SchedulerOptions>().Bind(section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<SchedulerOptions>, SchedulerOptionsValidator>();
        services.AddSingleton<IModelLoader, FileModelLoader>();
        services.AddHttpClient(ModelDownloads.HttpClientName, http => http.Timeout = Timeout.InfiniteTimeSpan);
        services.AddSingleton<ModelDownloads>();
        services.AddSingleton<ModelHost>();
        services.AddHostedService(sp => sp.GetRequiredService<ModelHost>());
        return services;
    }
}

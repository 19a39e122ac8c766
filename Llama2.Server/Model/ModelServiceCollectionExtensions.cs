using Microsoft.Extensions.Options;

namespace Llama2.Server.Model;

public static class ModelServiceCollectionExtensions
{
    /// <summary>Binds and validates <see cref="ModelOptions"/> at start-up and loads the model in the background.</summary>
    public static IServiceCollection AddModel(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<ModelOptions>()
            .Bind(configuration.GetSection(ModelOptions.Section))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<ModelOptions>, ModelFilesValidator>();
        services.AddSingleton<IModelLoader, FileModelLoader>();
        services.AddHttpClient(ModelDownloads.HttpClientName, http => http.Timeout = Timeout.InfiniteTimeSpan);
        services.AddSingleton<ModelDownloads>();
        services.AddSingleton<ModelHost>();
        services.AddHostedService(sp => sp.GetRequiredService<ModelHost>());
        return services;
    }
}

namespace Llama2.Server.Serving;

public static class ServingServiceCollectionExtensions
{
    /// <summary>What every API that generates shares: the limits and the queue to the scheduler.</summary>
    public static IServiceCollection AddServing(this IServiceCollection services) => services
        .AddSingleton<GenerationLimits>()
        .AddSingleton<GenerationQueue>();
}

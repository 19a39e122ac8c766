namespace Llama2.Server.Serving;

/// <summary>What a generation that failed after the scheduler accepted it answers, whichever API it came through.</summary>
public static class GenerationFailures
{
    /// <summary>
    /// The engine refused the request (<see cref="ArgumentException"/>: something the checks let through) is a
    /// validation error; the server stopping (<see cref="OperationCanceledException"/> without the client leaving)
    /// is <see cref="ApiError.Stopping"/>; anything else is logged and answered without its details.
    /// </summary>
    public static ApiError ToApiError(Exception exception, ILogger logger)
    {
        switch (exception)
        {
            case ArgumentException refused:
                return ApiError.Invalid(refused.Message);
            case OperationCanceledException:
                return ApiError.Stopping;
            default:
                logger.LogError(exception, "Generation failed");
                return ApiError.GenerationFailed("generation failed");
        }
    }
}

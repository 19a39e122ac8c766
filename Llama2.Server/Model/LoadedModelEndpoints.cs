using Llama2.Server.Errors;

namespace Llama2.Server.Model;

public static class LoadedModelEndpoints
{
    /// <summary>
    /// Endpoints that need the model: until it is loaded (and once the server is stopping) an endpoint filter answers
    /// every request of the group with <see cref="ApiError.NotReady"/>, in the API's own shape (<paramref name="answer"/>);
    /// otherwise it hands the loaded model to the endpoint, which reads it with <see cref="LoadedModel(HttpContext)"/>.
    /// The filter runs after the request is bound, so a malformed body is still answered as such.
    /// </summary>
    public static RouteGroupBuilder RequireLoadedModel(this RouteGroupBuilder group, Func<ApiError, HttpContext, IResult> answer)
    {
        group.AddEndpointFilter((context, next) =>
        {
            var http = context.HttpContext;
            if (http.RequestServices.GetRequiredService<ModelHost>().Loaded is not { } model)
                return ValueTask.FromResult<object?>(answer(ApiError.NotReady, http));
            http.Features.Set(model);
            return next(context);
        });
        return group;
    }

    /// <summary>
    /// The model this request is served with (one model for the whole request, even if the server starts stopping
    /// meanwhile). Only for endpoints in a group that <see cref="RequireLoadedModel"/>.
    /// </summary>
    public static LoadedModel LoadedModel(this HttpContext http) => http.Features.Get<LoadedModel>()
        ?? throw new InvalidOperationException($"{http.GetEndpoint()?.DisplayName} is not in a group that RequireLoadedModel()");
}

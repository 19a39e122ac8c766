namespace Llama2.Server.Errors;

/// <summary>What kind of error it is, whichever API answers it.</summary>
public enum ApiErrorKind
{
    /// <summary>The request is malformed or asks for something outside the limits.</summary>
    Validation,
    /// <summary>The queue is full.</summary>
    Overloaded,
    /// <summary>The model is not loaded (yet), or the server is stopping.</summary>
    Unavailable,
    /// <summary>Generation failed after it started.</summary>
    Generation,
    /// <summary>A bug: details are in the server log, never in the response.</summary>
    Internal,
}

/// <summary>
/// An error as data. Checks and the generation pipeline return it; each API surface answers it in its own shape
/// (<see cref="ErrorShape"/>: TGI's <c>{"error","error_type"}</c> through <see cref="TgiErrors"/>, OpenAI's
/// <c>{"error":{"message","type","param","code"}}</c>).
/// </summary>
/// <param name="Kind">What kind of error.</param>
/// <param name="Message">What went wrong, in words the client can act on.</param>
public sealed record ApiError(ApiErrorKind Kind, string Message)
{
    /// <summary>The request parameter at fault, when there is one (e.g. "max_new_tokens").</summary>
    public string? Param { get; init; }

    /// <summary>Seconds after which the request may succeed if sent again (Retry-After), for errors that pass.</summary>
    public int? RetryAfterSeconds { get; init; }

    /// <summary>
    /// The HTTP status when the error has its own whatever the API (404, 405, 413, 415); otherwise each API answers
    /// the status of its <see cref="Kind"/>.
    /// </summary>
    public int? StatusCode { get; init; }

    /// <summary>The model is not loaded yet (or the server is stopping).</summary>
    public static ApiError NotReady { get; } = new(ApiErrorKind.Unavailable, "the model is not loaded yet") { RetryAfterSeconds = 1 };

    /// <summary>The server is stopping: requests still running end with it.</summary>
    public static ApiError Stopping { get; } = new(ApiErrorKind.Unavailable, "the server is stopping");

    public static ApiError Invalid(string message, string? param = null) => new(ApiErrorKind.Validation, message) { Param = param };

    /// <summary>The scheduler's queue is full.</summary>
    public static ApiError Overloaded(int retryAfterSeconds) =>
        new(ApiErrorKind.Overloaded, "Model is overloaded: the request queue is full, retry later") { RetryAfterSeconds = retryAfterSeconds };

    public static ApiError GenerationFailed(string message) => new(ApiErrorKind.Generation, message);

    public static ApiError InternalError { get; } = new(ApiErrorKind.Internal, "internal server error");
}

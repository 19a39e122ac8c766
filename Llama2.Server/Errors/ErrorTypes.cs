namespace Llama2.Server.Errors;

/// <summary>The <c>error_type</c> values the server sends.</summary>
public static class ErrorTypes
{
    /// <summary>The request is malformed or asks for something outside the limits (422, 400, 413, 415).</summary>
    public const string Validation = "validation";
    /// <summary>The queue is full (429).</summary>
    public const string Overloaded = "overloaded";
    /// <summary>The model is not loaded (yet) (503).</summary>
    public const string Unavailable = "unavailable";
    /// <summary>Generation failed after it started.</summary>
    public const string Generation = "generation";
    /// <summary>A bug: details are in the server log, never in the response.</summary>
    public const string Internal = "internal";
}

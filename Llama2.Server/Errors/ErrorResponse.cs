namespace Llama2.Server.Errors;

/// <summary>TGI's error body: a message and its kind ("validation", "overloaded", "generation", ...).</summary>
/// <param name="Error">What went wrong, in words.</param>
/// <param name="ErrorType">validation | overloaded | unavailable | generation | internal</param>
public sealed record ErrorResponse(string Error, string ErrorType);

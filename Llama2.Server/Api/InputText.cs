using Llama2.Server.Errors;

namespace Llama2.Server.Api;

/// <summary>
/// The rule for a request's input text, checked before it is tokenized (whose cost grows with the square of its
/// length): present, and at most <see cref="ApiOptions.MaxInputCharacters"/> characters.
/// </summary>
public static class InputText
{
    /// <param name="text">The text as the request gave it.</param>
    /// <param name="limits">The request limits.</param>
    /// <param name="param">What the API calls the text (TGI: "inputs"), for the error.</param>
    public static Checked<string> Check(string? text, ApiOptions limits, string param) =>
        string.IsNullOrEmpty(text) ? ApiError.Invalid($"`{param}` cannot be empty", param)
        : text.Length > limits.MaxInputCharacters
            ? ApiError.Invalid($"`{param}` must have at most {limits.MaxInputCharacters} characters. Given: {text.Length}", param)
        : text;
}

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
        : CheckLength(text.Length, limits, param) is { } error ? error
        : text;

    /// <summary>The length rule alone, for text given in pieces (a conversation's messages: their total).</summary>
    /// <param name="characters">The text's length (all its pieces).</param>
    /// <param name="limits">The request limits.</param>
    /// <param name="param">What the API calls the text, for the error.</param>
    public static ApiError? CheckLength(int characters, ApiOptions limits, string param) =>
        characters > limits.MaxInputCharacters
            ? ApiError.Invalid($"`{param}` must have at most {limits.MaxInputCharacters} characters. Given: {characters}", param)
            : null;
}

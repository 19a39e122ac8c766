using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Numerics;

namespace Llama2.Cli;

/// <summary>
/// Options that take a number: read the invariant way (a dot before decimals, whatever the locale), and refused at
/// parsing, with one message naming the flag, what it takes and what it got, when the value is not a finite number
/// within range. (System.CommandLine's own conversion would let NaN and infinity through.)
/// </summary>
static class NumberOptions
{
    public static Option<T> AcceptNumbers<T>(this Option<T> option, T? min = null, T? max = null)
        where T : struct, INumber<T>
    {
        option.CustomParser = result => Parse(result, min, max);
        return option;
    }

    public static Option<T?> AcceptNumbers<T>(this Option<T?> option, T? min = null, T? max = null)
        where T : struct, INumber<T>
    {
        option.CustomParser = result => Parse(result, min, max);
        return option;
    }

    static T Parse<T>(ArgumentResult result, T? min, T? max) where T : struct, INumber<T>
    {
        bool decimals = typeof(T) == typeof(float) || typeof(T) == typeof(double);
        string text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
        if (T.TryParse(text, decimals ? NumberStyles.Float : NumberStyles.Integer, CultureInfo.InvariantCulture, out var value)
            && T.IsFinite(value) && (min is not { } low || value >= low) && (max is not { } high || value <= high))
            return value;

        string takes = (decimals ? "a number" : "a whole number") + (min, max) switch
        {
            ({ } least, { } most) => $" from {least} to {most}",
            ({ } least, null) => $" of at least {least}",
            (null, { } most) => $" of at most {most}",
            _ => "",
        };
        string flag = result.Parent is OptionResult { IdentifierToken: { } token } ? token.Value : result.Argument.Name;
        result.AddError($"{flag} takes {takes}, not '{text}'");
        return default;
    }
}

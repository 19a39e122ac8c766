using System.Diagnostics.CodeAnalysis;

namespace Llama2.Server.Errors;

/// <summary>
/// What a check gives back: the value that passed it, or the <see cref="ApiError"/> that stopped it. Returned instead
/// of out parameters, so that checks read as one expression and compose with <see cref="Then{TNext}"/>.
/// </summary>
public sealed class Checked<T> where T : class
{
    Checked(T? value, ApiError? error)
    {
        Value = value;
        Error = error;
        Passed = error is null;
    }

    public T? Value { get; }

    public ApiError? Error { get; }

    [MemberNotNullWhen(true, nameof(Value))]
    [MemberNotNullWhen(false, nameof(Error))]
    public bool Passed { get; }

    /// <summary>The next check or step on the value, or this error.</summary>
    public Checked<TNext> Then<TNext>(Func<T, Checked<TNext>> next) where TNext : class => Passed ? next(Value) : Error;

    public static implicit operator Checked<T>(T value) => new(value ?? throw new ArgumentNullException(nameof(value)), null);

    public static implicit operator Checked<T>(ApiError error) => new(null, error ?? throw new ArgumentNullException(nameof(error)));
}

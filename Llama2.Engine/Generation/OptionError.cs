namespace Llama2.Engine.Generation;

/// <summary>
/// An option out of its range, as the engine's option types report it (<see cref="Sampling.SamplingOptions.Validate"/>,
/// <see cref="Scheduling.SchedulerOptions.Validate"/>): the property, for callers that say it in their own words,
/// and the problem in words.
/// </summary>
/// <param name="Option">The property's name, e.g. <c>nameof(SamplingOptions.TopP)</c>.</param>
/// <param name="Message">What is wrong, naming the option, e.g. "top_p must be a number".</param>
public sealed record OptionError(string Option, string Message)
{
    public override string ToString() => Message;
}

using Llama2.Engine.Scheduling;
using Microsoft.Extensions.Options;

namespace Llama2.Server.Model;

/// <summary>
/// Fails start-up on scheduler sizes out of range: the engine's own rules (<see cref="SchedulerOptions.Validate"/>),
/// named by their settings (Model:MaxQueueLength, ...).
/// </summary>
public sealed class SchedulerOptionsValidator : IValidateOptions<SchedulerOptions>
{
    public ValidateOptionsResult Validate(string? name, SchedulerOptions options) => options.Validate() switch
    {
        [] => ValidateOptionsResult.Success,
        var errors => ValidateOptionsResult.Fail(errors.Select(e => $"{ModelOptions.Section}:{e.Message}")),
    };
}

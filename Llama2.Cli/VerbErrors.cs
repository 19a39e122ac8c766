using Llama2.Engine.Model;
using Llama2.Training.Data;

namespace Llama2.Cli;

/// <summary>
/// How the training verbs end when their input is wrong: one line on stderr naming the problem and exit code 1, never
/// a stack trace; Ctrl+C (an <see cref="OperationCanceledException"/>) is exit code 130 and what the verb says about it.
/// </summary>
static class VerbErrors
{
    public static int Run(Func<int> work, string cancelled = "cancelled")
    {
        try
        {
            return work();
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine(cancelled);
            return RunCommand.Cancelled;
        }
        catch (Exception e) when (IsInputProblem(e))
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }

    /// <summary>A file missing, unreadable or malformed, or a value the library refuses: the user's to fix.</summary>
    static bool IsInputProblem(Exception e) => e is TrainingDataException or CheckpointFormatException or ArgumentException
        or IOException or InvalidDataException or UnauthorizedAccessException or NotSupportedException;
}

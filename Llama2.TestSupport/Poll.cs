using Xunit;

namespace Llama2.TestSupport;

/// <summary>Waits for a condition by polling it (never a fixed sleep), failing after 20 seconds.</summary>
public static class Poll
{
    public static async Task Until(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("timed out waiting until " + what);
            await Task.Delay(5, TestContext.Current.CancellationToken);
        }
    }
}

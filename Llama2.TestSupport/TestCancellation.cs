using Xunit;

namespace Llama2.TestSupport;

/// <summary>For <c>using static</c>: the running test's cancellation token, so that nothing a test waits on outlives it.</summary>
public static class TestCancellation
{
    public static CancellationToken TestToken => TestContext.Current.CancellationToken;
}

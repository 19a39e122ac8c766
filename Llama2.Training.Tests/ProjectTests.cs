namespace Llama2.Training.Tests;

/// <summary>Placeholder so the new test project runs; replaced by the trainer's tests.</summary>
public sealed class ProjectTests
{
    [Fact]
    public void TrainingAssemblyLoads() => Assert.Equal("Llama2.Training", typeof(TrainingAssemblyMarker).Assembly.GetName().Name);
}

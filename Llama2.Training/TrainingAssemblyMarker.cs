namespace Llama2.Training;

/// <summary>Placeholder type until the trainer lands.</summary>
internal static class TrainingAssemblyMarker;

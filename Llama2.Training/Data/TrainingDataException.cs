namespace Llama2.Training.Data;

/// <summary>Input that training cannot use (no text, a malformed file, a vocabulary that cannot fit); the message says which and why.</summary>
public sealed class TrainingDataException(string message, Exception? inner = null) : Exception(message, inner);

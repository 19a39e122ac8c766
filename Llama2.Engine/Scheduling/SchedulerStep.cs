namespace Llama2.Engine.Scheduling;

/// <summary>What one forward pass of the scheduler carried.</summary>
/// <param name="Sequences">Sequences in the batch.</param>
/// <param name="DecodeTokens">Sequences that fed their last sampled token (one row each).</param>
/// <param name="PromptTokens">Prompt tokens fed (chunks of the prompts of sequences that joined).</param>
/// <param name="Elapsed">Time for the pass, sampling included.</param>
public readonly record struct SchedulerStep(int Sequences, int DecodeTokens, int PromptTokens, TimeSpan Elapsed);

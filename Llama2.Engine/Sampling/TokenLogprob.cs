namespace Llama2.Engine.Sampling;

/// <summary>A token and its log-probability, as reported next to a pick (<see cref="Sampler.TopLogprobs"/>).</summary>
/// <param name="Id">Token id.</param>
/// <param name="Logprob">Natural log of its probability; −∞ for a token that could not be drawn (e.g. outside top-k).</param>
public readonly record struct TokenLogprob(int Id, float Logprob);

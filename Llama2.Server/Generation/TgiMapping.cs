using System.Text;
using Llama2.Engine.Generation;
using Llama2.Engine.Tokenization;

namespace Llama2.Server.Generation;

/// <summary>Engine results in TGI's shapes: one token, the prompt's tokens, and a finished generation's details.</summary>
public static class TgiMapping
{
    public static TokenInfo ToTokenInfo(this GeneratedToken token) =>
        new(token.Id, token.Text, float.IsFinite(token.Logprob) ? token.Logprob : null, token.Special);

    /// <summary>
    /// The details of a finished generation: with the prompt's and the generated tokens for a JSON answer, without them
    /// (left out) for the last event of a stream.
    /// </summary>
    public static GenerationDetails ToDetails(this FinishedGeneration finished,
        IReadOnlyList<PrefillToken>? prefill = null, IReadOnlyList<TokenInfo>? tokens = null)
    {
        var summary = finished.Summary;
        return new()
        {
            FinishReason = summary.FinishReason.Name(),
            GeneratedTokens = summary.GeneratedTokens,
            Seed = finished.Seed,
            Prefill = prefill,
            Tokens = tokens,
            InputLength = summary.PromptTokens,
            TokensPerSecond = Math.Round(summary.TokensPerSecond, 2),
            TimeToFirstTokenMs = summary.TimeToFirstToken.TotalMilliseconds,
            QueueTimeMs = finished.QueueTime.TotalMilliseconds,
            TruncatedTokens = finished.TruncatedTokens,
            ContextShifts = summary.ContextShifts,
            DiscardedTokens = summary.DiscardedTokens,
        };
    }

    /// <summary>The prompt's tokens with their text (empty for BOS); their log-probabilities are not computed.</summary>
    public static List<PrefillToken> Prefill(Tokenizer tokenizer, IReadOnlyList<int> promptIds)
    {
        var prefill = new List<PrefillToken>(promptIds.Count);
        int previous = 0;
        foreach (int id in promptIds)
        {
            var text = tokenizer.IsSpecial(id) ? "" : Encoding.UTF8.GetString(tokenizer.Decode(previous, id));
            prefill.Add(new PrefillToken(id, text, null));
            previous = id;
        }
        return prefill;
    }
}

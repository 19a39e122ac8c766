using Llama2.Engine.Scheduling;

namespace Llama2.Engine.Tests.TestData;

/// <summary>A request run alone (the reference), and everything a scheduled request streams.</summary>
public static class Generations
{
    /// <summary>The token ids <paramref name="request"/> gives on its own, stepped directly on the model.</summary>
    public static List<int> IdsAlone(LlamaModel model, GenerationRequest request) =>
        ToEnd(model.StartSequence(request).Next).Select(t => t.Id).ToList();

    /// <summary>Every token <paramref name="next"/> gives until it gives none (a sequence's or a chat session's <c>Next</c>).</summary>
    public static List<GeneratedToken> ToEnd(Func<GeneratedToken?> next)
    {
        var tokens = new List<GeneratedToken>();
        while (next() is { } token) tokens.Add(token);
        return tokens;
    }

    /// <summary>Reads a scheduled request's tokens to the end (its error, if it failed, is thrown); cancelled with the test.</summary>
    public static async Task<List<GeneratedToken>> ReadAllAsync(ScheduledGeneration generation)
    {
        var tokens = new List<GeneratedToken>();
        await foreach (var token in generation.Tokens.ReadAllAsync(TestContext.Current.CancellationToken)) tokens.Add(token);
        return tokens;
    }
}

namespace Llama2.Engine.Tests.Chat;

/// <summary>
/// <see cref="SequenceGenerator.Continue"/>, which chat turns are built on, on a small random model (no ../shared needed).
/// </summary>
public sealed class SequenceContinuationTests : IDisposable
{
    static readonly SamplingOptions Greedy = new() { Temperature = 0 };
    readonly SmallModel _small = new();

    public void Dispose() => _small.Dispose();

    static List<GeneratedToken> Run(SequenceGenerator sequence) => Generations.ToEnd(sequence.Next);

    [Fact]
    public void Continuing_gives_the_tokens_of_feeding_everything_at_once()
    {
        int[] first = [1, 260, 261, 262], second = [1, 263, 264];
        var sequence = _small.Model.StartSequence(new GenerationRequest { PromptIds = first, MaxNewTokens = 5, StopAtEos = false, Sampling = Greedy });
        var firstReply = Run(sequence).Select(t => t.Id).ToArray();
        Assert.True(sequence.Continue(second));
        Assert.Equal(second, sequence.PromptIds.ToArray());
        var secondReply = Run(sequence);

        var whole = _small.Model.StartSequence(new GenerationRequest
        {
            PromptIds = [.. first, .. firstReply, .. second], MaxNewTokens = 5, StopAtEos = false, Sampling = Greedy,
        });
        Assert.Equal(Run(whole).Select(t => t.Id), secondReply.Select(t => t.Id));
        Assert.Equal([.. first, .. firstReply, .. second, .. secondReply.Select(t => t.Id)], sequence.Tokens.ToArray());
        // The second generation is counted on its own.
        Assert.Equal(Enumerable.Range(0, 5), secondReply.Select(t => t.Index));
        Assert.Equal((second.Length, 5, FinishReason.Length),
            (secondReply[^1].Summary!.PromptTokens, secondReply[^1].Summary!.GeneratedTokens, secondReply[^1].Finish));
        Assert.Equal(string.Concat(secondReply.Select(t => t.Text)), secondReply[^1].Summary!.GeneratedText);
    }

    [Fact]
    public void A_continuation_is_bounded_by_the_context_and_refused_whole_when_it_does_not_fit()
    {
        var state = _small.Model.Transformer.CreateState(20);
        var sequence = _small.Model.StartSequence(new GenerationRequest { PromptIds = [1, 260], MaxNewTokens = 3, StopAtEos = false, Sampling = Greedy }, state);
        Run(sequence);
        var before = sequence.Tokens.ToArray(); // 2 prompt + 3 generated, the last not fed

        Assert.False(sequence.Continue(Enumerable.Repeat(261, 20 - before.Length + 1).ToArray()));
        Assert.Equal(before, sequence.Tokens.ToArray());
        Assert.True(sequence.IsFinished);

        Assert.True(sequence.Continue(Enumerable.Repeat(261, 20 - before.Length).ToArray())); // fills the context exactly
        var last = Assert.Single(Run(sequence));
        Assert.Equal(FinishReason.ContextFull, last.Finish); // one token, picked after the last position
        Assert.Equal(20, sequence.FedCount);
    }

    [Fact]
    public void A_sequence_still_generating_cannot_be_continued()
    {
        var sequence = _small.Model.StartSequence(new GenerationRequest { PromptIds = [1, 260], MaxNewTokens = 3, StopAtEos = false });
        sequence.Next();
        Assert.Throws<InvalidOperationException>(() => sequence.Continue([1, 261]));
        Run(sequence);
        Assert.Throws<ArgumentException>(() => sequence.Continue([]));
        Assert.Throws<ArgumentException>(() => sequence.Continue([1, 300]));
    }
}

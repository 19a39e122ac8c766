using System.Numerics.Tensors;
using System.Text.Json.Serialization;
using Llama2.Engine.Kernels;

namespace Llama2.Engine.Tests.Golden;

/// <summary>One case of ../shared/golden/runq-cases.json: a greedy run of llama2.c's runq.c on an int8 checkpoint.</summary>
public sealed record RunQCase : GoldenRun
{
    [JsonPropertyName("prompt")] public string? Prompt { get; init; }
    /// <summary>The token fed at each position: BOS and the prompt, then runq.c's picks.</summary>
    [JsonPropertyName("fed_ids")] public required int[] FedIds { get; init; }
    /// <summary>The token runq.c picked after each position (during the prompt, picks it threw away).</summary>
    [JsonPropertyName("next_ids")] public required int[] NextIds { get; init; }
    [JsonPropertyName("ended_by")] public required string EndedBy { get; init; }

    static readonly GoldenFile<RunQCase> Data = new("runq-cases.json");

    public static RunQCase Get(string name) => Data.Get(name);
    public static void AssertTheFileHoldsExactlyAll() => Data.AssertHoldsExactly(All);

    /// <summary>Case names for [MemberData], listed here so that test discovery works without ../shared.</summary>
    public static TheoryData<string> All => new(
        "tiny32k-q80-once", "tiny32k-q80-empty", "tiny32k-q80-unicode", "tiny32k-q80-spaces", "tiny32k-q80-full",
        "q128-q80-once", "q128-q80-empty", "q128-q80-unicode", "q128-q80-spaces", "q128-q80-full");
}

/// <summary>
/// The int8 engine against llama2.c's runq.c (../shared/golden/runq-cases.json, see its README): on both version 2
/// checkpoints, greedy, the tokens fed and picked at every position exactly.
/// </summary>
public sealed class RunQGoldenTests
{
    [Fact]
    public void The_golden_file_holds_exactly_the_cases_these_tests_run() => RunQCase.AssertTheFileHoldsExactlyAll();

    [Theory]
    [MemberData(nameof(RunQCase.All), MemberType = typeof(RunQCase))]
    public void Greedy_generation_feeds_and_picks_runq_tokens(string name)
    {
        var golden = RunQCase.Get(name);
        Assert.Equal(0f, golden.Temperature);
        using var model = LlamaModel.Load(golden.ModelPath, golden.TokenizerPath);
        Assert.Equal(WeightFormat.Q8_0, model.Transformer.Format);
        Assert.Equal("q8_0 (file)", model.Checkpoint.Quantization);

        var prompt = model.Tokenizer.Encode(golden.Prompt ?? "", bos: true, eos: false);
        Assert.Equal(golden.FedIds[..prompt.Count], prompt);
        int steps = golden.Steps == 0 ? model.Config.SeqLen : golden.Steps;
        var sequence = model.StartSequence(new GenerationRequest
        {
            PromptIds = prompt,
            MaxNewTokens = steps - prompt.Count + 1,
            StopAtEos = false,
            Sampling = new SamplingOptions { Temperature = 0f },
        });
        var picks = new List<int>();
        while (sequence.Next() is { } token) picks.Add(token.Id);

        // runq.c feeds each pick back; its last pick (after the last position) is never fed.
        Assert.Equal(golden.NextIds[(prompt.Count - 1)..], picks.Take(golden.NextIds.Length - prompt.Count + 1));
        Assert.Equal(golden.FedIds[prompt.Count..], picks.Take(golden.FedIds.Length - prompt.Count));
    }

    [Theory]
    [MemberData(nameof(RunQCase.All), MemberType = typeof(RunQCase))]
    public void Teacher_forced_picks_are_runq_picks_at_every_position_in_one_prompt_pass(string name)
    {
        var golden = RunQCase.Get(name);
        using var model = LlamaModel.Load(golden.ModelPath, golden.TokenizerPath);
        int promptLength = model.Tokenizer.Encode(golden.Prompt ?? "", bos: true, eos: false).Count;
        var transformer = model.Transformer;
        var state = transformer.CreateState();
        var batch = new Inference.TokenBatch(transformer.Config, golden.FedIds.Length, golden.FedIds.Length);
        for (int pos = 0; pos < golden.FedIds.Length; pos++) batch.Add(state, golden.FedIds[pos], pos, logits: true);
        transformer.Forward(batch);
        // Within the prompt runq.c's "picks" are the prompt's next tokens; from its last token on they are its argmax.
        for (int pos = promptLength - 1; pos < golden.FedIds.Length; pos++)
            Assert.True(golden.NextIds[pos] == TensorPrimitives.IndexOfMax(batch.Logits(pos)),
                $"{name}: position {pos}: picked {TensorPrimitives.IndexOfMax(batch.Logits(pos))}, runq.c {golden.NextIds[pos]}");
    }
}

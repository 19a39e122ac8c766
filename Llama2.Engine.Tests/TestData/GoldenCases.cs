using System.Runtime.InteropServices;
using System.Text.Json.Serialization;

namespace Llama2.Engine.Tests.TestData;

/// <summary>One case of ../shared/golden/runc-cases.json: a run of llama2.c's run.c and what it produced.</summary>
public sealed record GoldenCase : GoldenRun
{
    [JsonPropertyName("prompt")] public string? Prompt { get; init; }
    [JsonPropertyName("topp")] public float TopP { get; init; }
    [JsonPropertyName("seed")] public ulong Seed { get; init; }
    [JsonPropertyName("prompt_ids")] public required int[] PromptIds { get; init; }
    [JsonPropertyName("expected_ids")] public required int[] ExpectedIds { get; init; }
    [JsonPropertyName("ended_by")] public required string EndedBy { get; init; }
    [JsonPropertyName("logits_file")] public required string LogitsFile { get; init; }
    [JsonPropertyName("logits_positions")] public int LogitsPositions { get; init; }
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; }

    public bool UsesTextTokenizer => Tokenizer != "ids";

    /// <summary>prompt_ids followed by expected_ids: the sequence run.c fed, position by position.</summary>
    public int[] FullSequence => [.. PromptIds, .. ExpectedIds];

    /// <summary>run.c's logits, one row of vocab_size per dumped position.</summary>
    public float[] ReadLogits()
    {
        var bytes = File.ReadAllBytes(SharedData.Require("golden/" + LogitsFile));
        Assert.Equal((long)LogitsPositions * VocabSize * sizeof(float), bytes.LongLength);
        return MemoryMarshal.Cast<byte, float>(bytes).ToArray();
    }
}

public static class GoldenCases
{
    static readonly GoldenFile<GoldenCase> Data = new("runc-cases.json");
    static readonly Lazy<Dictionary<string, uint[]>> Rng = new(() => Data.Read<Dictionary<string, uint[]>>("rng"));

    public static GoldenCase Get(string name) => Data.Get(name);
    public static void AssertTheFileHoldsExactlyAll() => Data.AssertHoldsExactly(All);
    public static IReadOnlyDictionary<string, uint[]> RngVectors => Rng.Value;

    /// <summary>
    /// Case names for [MemberData]. Listed here rather than read from the file, so that test discovery works
    /// without ../shared; a test whose case is missing fails.
    /// </summary>
    public static TheoryData<string> All => new(
        "260k-greedy", "260k-topp", "260k-multinomial", "260k-full-context",
        "tiny32k-prompt", "tiny32k-unicode-greedy", "tiny32k-noprompt");

    public static TheoryData<string> Greedy => new("260k-greedy", "tiny32k-unicode-greedy");
    public static TheoryData<string> WithTextTokenizer => new("tiny32k-prompt", "tiny32k-unicode-greedy", "tiny32k-noprompt");
}

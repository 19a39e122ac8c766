namespace Llama2.Engine.Download;

/// <summary>Where to fetch a file from, and what it must be once fetched.</summary>
public sealed record ModelSource(Uri Url, long? ExpectedBytes = null, string? Sha256 = null)
{
    const string Models = "https://huggingface.co/karpathy/tinyllamas/resolve/main/";

    /// <summary>llama2.c's tokenizer for the Llama 2 vocabulary, used by all the stories models.</summary>
    public static ModelSource Tokenizer { get; } =
        new(new Uri("https://raw.githubusercontent.com/karpathy/llama2.c/master/tokenizer.bin"));

    /// <summary>The TinyStories checkpoints llama2.c publishes, by name.</summary>
    public static IReadOnlyDictionary<string, ModelSource> KnownModels { get; } = new Dictionary<string, ModelSource>
    {
        ["stories15M"] = new(new Uri(Models + "stories15M.bin")),
        ["stories42M"] = new(new Uri(Models + "stories42M.bin")),
        ["stories110M"] = new(new Uri(Models + "stories110M.bin")),
    };
}

namespace Llama2.Server.Tests.Generation;

/// <summary>
/// The server on a trained model with another vocabulary (stories260K, 512 tokens), with a 512-token tokenizer
/// written by the test: greedy text and ids equal the engine's.
/// </summary>
public sealed class Stories260KTests
{
    [Fact]
    public async Task Greedy_generation_on_stories260K_is_the_engines()
    {
        using var temp = new TempDirectory();
        var checkpoint = SharedData.Stories260K;
        var tokenizer = SmallTokenizer.Write(temp.Path);
        await using var factory = new ServerFactory(new Dictionary<string, string?>
        {
            ["Model:CheckpointPath"] = checkpoint,
            ["Model:TokenizerPath"] = tokenizer,
        });
        var client = await factory.CreateReadyClientAsync();

        using var response = await client.PostJsonAsync("/generate",
            """{"inputs": "once upon a time", "parameters": {"max_new_tokens": 40, "details": true}}""");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.ReadJsonAsync();

        using var model = LlamaModel.Load(checkpoint, tokenizer);
        var sequence = model.StartSequence(new GenerationRequest
        {
            Prompt = "once upon a time",
            MaxNewTokens = 40,
            Sampling = new SamplingOptions { Temperature = 0 },
        });
        var expected = new List<GeneratedToken>();
        while (sequence.Next() is { } token) expected.Add(token);

        Assert.Equal(string.Concat(expected.Select(t => t.Text)), body.GetProperty("generated_text").GetString());
        Assert.Equal(expected.Select(t => t.Id),
            body.GetProperty("details").GetProperty("tokens").EnumerateArray().Select(t => t.GetProperty("id").GetInt32()));
    }
}

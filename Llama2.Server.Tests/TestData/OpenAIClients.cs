using System.ClientModel;
using System.ClientModel.Primitives;
using Llama2.Engine.Chat;
using OpenAI;
using OpenAI.Chat;

namespace Llama2.Server.Tests.TestData;

/// <summary>
/// The official OpenAI SDK pointed at a test server's /v1 (through the server's in-memory client), as a user points
/// it at a real one: any model name, any key. No retries, so a refusal is seen as it is.
/// </summary>
public static class OpenAIClients
{
    public static ChatClient Chat(HttpClient server, string model = "any-model") =>
        new(model, new ApiKeyCredential("unused"), new OpenAIClientOptions
        {
            Endpoint = new Uri(server.BaseAddress!, "/v1"),
            Transport = new HttpClientPipelineTransport(server),
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
        });

    /// <summary>
    /// What the engine itself generates for a conversation encoded with the Llama 2 chat template, run on the server's
    /// own scheduler: the reference an OpenAI answer must equal (the reply is this text without its one leading space).
    /// </summary>
    public static async Task<GenerationSummary> EngineReplyAsync(ServerFactory factory, IReadOnlyList<Engine.Chat.ChatMessage> conversation,
        SamplingOptions sampling, int maxNewTokens, IReadOnlyList<string>? stops = null)
    {
        var tokenizer = Assert.IsType<LoadedModel>(factory.ModelHost.Loaded).Model.Tokenizer;
        return await EngineRunAsync(factory, new Llama2ChatTemplate(tokenizer).Encode(conversation), sampling, maxNewTokens, stops);
    }

    /// <summary>What the engine generates for <paramref name="promptIds"/> on the server's scheduler (shifting its context when given one).</summary>
    public static async Task<GenerationSummary> EngineRunAsync(ServerFactory factory, int[] promptIds, SamplingOptions sampling,
        int maxNewTokens, IReadOnlyList<string>? stops = null, ContextShift? shift = null)
    {
        var request = new GenerationRequest
        {
            PromptIds = promptIds, MaxNewTokens = maxNewTokens, Sampling = sampling, StopSequences = stops ?? [], StopAtEos = true,
            ContextShift = shift,
        };
        Assert.True(factory.Scheduler.TrySubmit(request, TestToken, out var generation));
        GenerationSummary? summary = null;
        await foreach (var token in generation.Tokens.ReadAllAsync(TestToken)) summary = token.Summary ?? summary;
        return Assert.IsType<GenerationSummary>(summary);
    }

    /// <summary>A chat reply as the API gives it: the engine's text without its one leading space.</summary>
    public static string Reply(GenerationSummary summary) =>
        summary.GeneratedText.StartsWith(' ') ? summary.GeneratedText[1..] : summary.GeneratedText;
}

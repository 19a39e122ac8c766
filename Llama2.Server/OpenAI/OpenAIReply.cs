using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using Llama2.Engine.Generation;
using Llama2.Engine.Sampling;
using Llama2.Engine.Tokenization;
using Llama2.Server.Model;

namespace Llama2.Server.OpenAI;

/// <summary>A generated token's log-probability, its text's place in the reply, and the most likely tokens beside it.</summary>
public sealed record TokenLogprobEntry(ChatTokenLogprob Logprob, int TextOffset);

/// <summary>
/// One OpenAI answer being read from a generation, token by token, for a JSON answer or a stream alike: its id and
/// creation time, the text each token adds, and each token's log-probability when asked for. A chat reply loses one
/// leading space: the model writes its first word after "[/INST]" as " word", which Meta's decoding of the reply
/// alone drops. Not thread-safe: one request reads it.
/// </summary>
public sealed class OpenAIReply
{
    /// <summary>What a log-probability of −∞ (a token that could not be drawn) reads as, as OpenAI writes it.</summary>
    const float Impossible = -9999f;

    static readonly string Version =
        typeof(OpenAIReply).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";

    readonly Tokenizer _tokenizer;
    readonly bool _logprobs;
    bool _trimLeadingSpace;
    int _previous;
    int _textLength;

    public OpenAIReply(LoadedModel loaded, OpenAIGeneration request, bool chat)
    {
        Id = (chat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N");
        Created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        Model = loaded.ModelId;
        SystemFingerprint = Fingerprint(loaded);
        _tokenizer = loaded.Model.Tokenizer;
        _logprobs = request.Logprobs;
        _trimLeadingSpace = chat;
        _previous = request.Generation.PromptIds[^1];
    }

    public string Id { get; }
    public long Created { get; }
    public string Model { get; }
    public string SystemFingerprint { get; }

    /// <summary>The text <paramref name="token"/> adds to the reply, and its log-probability entry when asked for.</summary>
    public (string Text, TokenLogprobEntry? Logprob) Read(GeneratedToken token)
    {
        string text = token.Text;
        if (_trimLeadingSpace && text.Length > 0)
        {
            _trimLeadingSpace = false;
            if (text[0] == ' ') text = text[1..];
        }
        TokenLogprobEntry? entry = null;
        if (_logprobs && !token.Special)
        {
            var (piece, bytes) = Piece(_previous, token.Id);
            var top = token.TopLogprobs?.Select(t => Alternative(_previous, t)).ToArray() ?? [];
            entry = new TokenLogprobEntry(new ChatTokenLogprob(piece, Finite(token.Logprob), bytes, top), _textLength);
            _textLength += piece.Length;
        }
        _previous = token.Id;
        return (text, entry);
    }

    public static string FinishReason(FinishedGeneration finished) => finished.Summary.FinishReason switch
    {
        Engine.Generation.FinishReason.EosToken or Engine.Generation.FinishReason.StopSequence => "stop",
        _ => "length",
    };

    /// <summary>The token counts, and what was left out of the context when something was (extension fields).</summary>
    public static Usage Usage(FinishedGeneration finished)
    {
        var summary = finished.Summary;
        static int? IfAny(int count) => count > 0 ? count : null;
        return new Usage(summary.PromptTokens, summary.GeneratedTokens, summary.PromptTokens + summary.GeneratedTokens)
        {
            TruncatedTokens = IfAny(finished.TruncatedTokens),
            DroppedMessages = IfAny(finished.DroppedMessages),
            ContextShifts = IfAny(summary.ContextShifts),
            DiscardedTokens = IfAny(summary.DiscardedTokens),
        };
    }

    public static ChatLogprobs? ChatLogprobs(IReadOnlyList<TokenLogprobEntry>? entries) =>
        entries is null ? null : new ChatLogprobs([.. entries.Select(e => e.Logprob)], null);

    public static CompletionLogprobs? CompletionLogprobs(IReadOnlyList<TokenLogprobEntry>? entries)
    {
        if (entries is null) return null;
        var top = entries.Select(e =>
        {
            var byText = new Dictionary<string, float>();
            foreach (var t in e.Logprob.TopLogprobs) byText.TryAdd(t.Token, t.Logprob); // most likely first: keep the first
            return byText;
        }).ToList();
        return new CompletionLogprobs([.. entries.Select(e => e.Logprob.Token)], [.. entries.Select(e => e.Logprob.Logprob)],
            top, [.. entries.Select(e => e.TextOffset)]);
    }

    ChatTopLogprob Alternative(int previous, TokenLogprob alternative)
    {
        var (piece, bytes) = Piece(previous, alternative.Id);
        return new ChatTopLogprob(piece, Finite(alternative.Logprob), bytes);
    }

    /// <summary>A token's text and bytes after <paramref name="previous"/> (special tokens read as their names).</summary>
    (string Text, int[] Bytes) Piece(int previous, int id)
    {
        if (_tokenizer.IsSpecial(id))
        {
            string name = Tokenizer.SpecialName(id);
            return (name, [.. Encoding.UTF8.GetBytes(name).Select(b => (int)b)]);
        }
        var bytes = _tokenizer.Decode(previous, id);
        var ints = new int[bytes.Length];
        for (int i = 0; i < bytes.Length; i++) ints[i] = bytes[i];
        return (Encoding.UTF8.GetString(bytes), ints);
    }

    static float Finite(float logprob) => float.IsFinite(logprob) ? logprob : Impossible;

    /// <summary>fp_ and 10 hex digits of a hash of the server version and the model (id, shape, file size).</summary>
    static string Fingerprint(LoadedModel loaded) =>
        "fp_" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(
            $"{Version}|{loaded.ModelId}|{loaded.Model.Config}|{loaded.Model.Checkpoint.FileBytes}")))[..10];
}

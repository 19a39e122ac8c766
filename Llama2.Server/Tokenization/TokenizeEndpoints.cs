using System.Text;
using Llama2.Engine.Tokenization;
using Llama2.Server.Model;

namespace Llama2.Server.Tokenization;

public static class TokenizeEndpoints
{
    /// <summary>POST /tokenize: the token ids of a text, with their offsets.</summary>
    public static IEndpointRouteBuilder MapTokenize(this IEndpointRouteBuilder routes)
    {
        routes.MapGroup("").WithTags("Tokenization").RequireLoadedModel(TgiErrors.Result)
            .MapPost("/tokenize", Tokenize)
            .WithName("Tokenize")
            .WithSummary("Tokenize a text")
            .WithDescription("TGI's /tokenize: the tokens generation would see for `inputs` (BOS first unless " +
                "`add_special_tokens` is false), each with its text and its [start, stop) offsets in `inputs`.")
            .Accepts<TokenizeRequest>("application/json")
            .ProducesTgiErrors(StatusCodes.Status422UnprocessableEntity, StatusCodes.Status503ServiceUnavailable)
            .WithRequestExample("""{"inputs": "Once upon a time"}""");
        return routes;
    }

    static Results<Ok<List<SimpleToken>>, JsonHttpResult<ErrorResponse>> Tokenize(
        TokenizeRequest body, HttpContext http, IOptions<ApiOptions> api)
    {
        var inputs = InputText.Check(body.Inputs, api.Value, "inputs");
        if (!inputs.Passed) return TgiErrors.Result(inputs.Error, http);
        return TypedResults.Ok(Split(http.LoadedModel().Model.Tokenizer, inputs.Value, body.AddSpecialTokens));
    }

    /// <summary>
    /// The encoder covers " " + text (SentencePiece's dummy prefix) with the pieces of the non-special tokens, so
    /// walking their bytes gives each token's byte range, mapped back to string offsets in the text.
    /// </summary>
    internal static List<SimpleToken> Split(Tokenizer tokenizer, string text, bool addSpecialTokens)
    {
        var ids = tokenizer.Encode(text, addSpecialTokens, eos: false);
        var charAtByte = CharOffsetsByByte(text);
        var tokens = new List<SimpleToken>(ids.Count);
        int bytePosition = -1; // the dummy-prefix space comes before the text
        foreach (int id in ids)
        {
            if (tokenizer.IsSpecial(id))
            {
                tokens.Add(new SimpleToken(id, Tokenizer.SpecialName(id), 0, 0));
                continue;
            }
            var bytes = tokenizer.Decode(0, id);
            int start = Offset(charAtByte, bytePosition), stop = Offset(charAtByte, bytePosition + bytes.Length);
            tokens.Add(new SimpleToken(id, Encoding.UTF8.GetString(bytes), start, stop));
            bytePosition += bytes.Length;
        }
        return tokens;
    }

    static int Offset(int[] charAtByte, int bytePosition) => charAtByte[Math.Clamp(bytePosition, 0, charAtByte.Length - 1)];

    /// <summary>For each UTF-8 byte offset of the text, the string offset of the character it falls in.</summary>
    static int[] CharOffsetsByByte(string text)
    {
        var map = new int[Encoding.UTF8.GetByteCount(text) + 1];
        int b = 0, c = 0;
        foreach (var rune in text.EnumerateRunes())
        {
            for (int i = 0; i < rune.Utf8SequenceLength; i++) map[b++] = c;
            c += rune.Utf16SequenceLength;
        }
        map[b] = c;
        return map;
    }
}

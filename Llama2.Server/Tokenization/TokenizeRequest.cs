namespace Llama2.Server.Tokenization;

/// <summary>TGI's /tokenize request.</summary>
/// <param name="Inputs">Text to tokenize.</param>
/// <param name="AddSpecialTokens">Put BOS first, as generation does (default true).</param>
public sealed record TokenizeRequest(string? Inputs, bool AddSpecialTokens = true);

/// <summary>One token of the input.</summary>
/// <param name="Id">Token id.</param>
/// <param name="Text">The token's text (special tokens as &lt;s&gt;, &lt;/s&gt;, &lt;unk&gt;).</param>
/// <param name="Start">Offset in <c>inputs</c> (UTF-16 code units, as .NET and JavaScript index strings) where it starts.</param>
/// <param name="Stop">Offset where it ends (exclusive).</param>
public sealed record SimpleToken(int Id, string Text, int Start, int Stop);

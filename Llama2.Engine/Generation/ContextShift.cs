namespace Llama2.Engine.Generation;

/// <summary>
/// How a sequence goes on past the end of its context window (llama.cpp's context shift): when its tokens no longer
/// fit, the oldest ones after the first <see cref="Keep"/> are dropped, <see cref="Discard"/> at a time, the rest move
/// down to the freed positions, and generation goes on. The key/value cache then holds exactly what a fresh sequence fed
/// the kept tokens would hold: the moved tokens are fed again at their new positions (their keys and values depend on
/// the tokens before them, so none can be kept as it was). A prompt longer than the window is shifted the same way
/// before it is fed.
/// </summary>
public sealed record ContextShift
{
    /// <summary>Leading tokens never dropped: BOS (1) by default; a chat's BOS and system prompt. 0 to the window − 1.</summary>
    public int Keep { get; init; } = 1;

    /// <summary>
    /// Tokens dropped at each shift, right after the kept ones: 1 to the window − <see cref="Keep"/>; null = half the
    /// positions after them (llama.cpp's default), so that a shift is needed only every that many tokens.
    /// </summary>
    public int? Discard { get; init; }

    /// <summary>What is wrong with these settings for a window of <paramref name="contextLength"/> positions, or null.</summary>
    public string? Validate(int contextLength)
    {
        if (Keep < 0 || Keep >= contextLength)
            return $"a context shift keeps 0..{contextLength - 1} leading tokens of a {contextLength}-position context, not {Keep}";
        if (Discard is { } discard && (discard < 1 || discard > contextLength - Keep))
            return $"a context shift keeping {Keep} tokens of {contextLength} drops 1..{contextLength - Keep} at a time, not {discard}";
        return null;
    }

    /// <summary>Tokens dropped at each shift in a window of <paramref name="contextLength"/> positions.</summary>
    public int DiscardPerShift(int contextLength) => Discard ?? Math.Max(1, (contextLength - Keep) / 2);

    /// <summary>
    /// How many shifts bring <paramref name="count"/> tokens within <paramref name="contextLength"/> positions (0 when
    /// they fit); each drops <see cref="DiscardPerShift"/> tokens right after the kept ones.
    /// </summary>
    public int ShiftsToFit(int count, int contextLength)
    {
        int over = count - contextLength;
        if (over <= 0) return 0;
        int discard = DiscardPerShift(contextLength);
        return (over + discard - 1) / discard;
    }
}

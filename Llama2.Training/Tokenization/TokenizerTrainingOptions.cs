namespace Llama2.Training.Tokenization;

/// <summary>How <see cref="TokenizerTrainer"/> builds a vocabulary.</summary>
public sealed record TokenizerTrainingOptions
{
    /// <summary>SentencePiece's default for the longest piece, in characters.</summary>
    public const int DefaultMaxPieceLength = 16;

    /// <summary>
    /// Tokens in the vocabulary, all included: 3 special tokens, 256 byte tokens, the alphabet (one piece per kept
    /// character) and the learned merges. At least 259 + the alphabet's size.
    /// </summary>
    public required int VocabSize { get; init; }

    /// <summary>
    /// The share of the text's characters (by occurrence) whose characters become pieces, the most frequent first,
    /// as SentencePiece's character_coverage. 1 keeps every character seen; rarer characters left out are encoded
    /// as their UTF-8 bytes.
    /// </summary>
    public double CharacterCoverage { get; init; } = 1.0;

    /// <summary>The longest piece, in characters (SentencePiece's max_sentencepiece_length).</summary>
    public int MaxPieceLength { get; init; } = DefaultMaxPieceLength;

    internal void Validate()
    {
        if (VocabSize < TrainedTokenizer.FirstLearnedId + 1 || VocabSize > TrainedTokenizer.MaxVocabSize)
            throw new ArgumentOutOfRangeException(nameof(VocabSize), VocabSize,
                $"the vocabulary size must be between {TrainedTokenizer.FirstLearnedId + 1} (3 special and 256 byte tokens, then at least one character) and {TrainedTokenizer.MaxVocabSize}");
        if (!(CharacterCoverage > 0 && CharacterCoverage <= 1))
            throw new ArgumentOutOfRangeException(nameof(CharacterCoverage), CharacterCoverage, "the character coverage must be above 0 and at most 1");
        if (MaxPieceLength is < 1 or > 256)
            throw new ArgumentOutOfRangeException(nameof(MaxPieceLength), MaxPieceLength, "the longest piece must be 1 to 256 characters");
    }
}

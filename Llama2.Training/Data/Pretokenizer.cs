using System.Security.Cryptography;
using Llama2.Engine.Tokenization;
using Llama2.Training.Tokenization;

namespace Llama2.Training.Data;

/// <summary>
/// Encodes a corpus into token files for training, as llama2.c's tinystories.py pretokenize does: each document is
/// BOS followed by its tokens exactly as run.c (our engine) encodes it, dummy-prefix space included; uint16 tokens
/// when the vocabulary fits, else int32. A held-out share of the documents goes to the validation file; the rest,
/// in corpus order, to the training file (see <see cref="TokenDataset"/> for the folder's layout).
/// <para>
/// The validation documents are chosen per document from its index in the corpus and the seed (a hash compared
/// with the fraction), so the split is deterministic, spread over the whole corpus, and needs no second pass. With
/// a fraction above 0 and at least two documents, each file gets at least one document (the last one moves if needed).
/// </para>
/// <para>
/// Inputs are streamed: memory holds one document and the encoder's cache of distinct words, never the corpus. The
/// files appear only when complete; a failure or cancellation leaves the folder as it was.
/// </para>
/// </summary>
public static class Pretokenizer
{
    public const string TrainFileName = "train.bin", ValidationFileName = "val.bin";

    public static TokenDataset Run(TextCorpus corpus, PretokenizeOptions options,
        IProgress<PretokenizeProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        options.Validate();
        var tokenizer = Tokenizer.Load(options.TokenizerPath);
        var dataType = TokenDataTypes.For(tokenizer.VocabSize);
        Directory.CreateDirectory(options.OutputDirectory);
        var trainPath = Path.Combine(options.OutputDirectory, TrainFileName);
        var validationPath = Path.Combine(options.OutputDirectory, ValidationFileName);
        (TokenSplit Train, TokenSplit Validation) splits;
        try
        {
            splits = Write(corpus, new DocumentEncoder(tokenizer), dataType, trainPath + ".partial", validationPath + ".partial",
                options, progress, cancellationToken);
        }
        catch
        {
            File.Delete(trainPath + ".partial");
            File.Delete(validationPath + ".partial");
            throw;
        }
        File.Move(trainPath + ".partial", trainPath, overwrite: true);
        File.Move(validationPath + ".partial", validationPath, overwrite: true);

        var dataset = new TokenDataset
        {
            VocabSize = tokenizer.VocabSize,
            DataType = dataType,
            Tokenizer = Path.GetFullPath(options.TokenizerPath),
            TokenizerSha256 = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(options.TokenizerPath))),
            DocumentSplit = corpus.Split,
            ValidationFraction = options.ValidationFraction,
            Seed = options.Seed,
            SourceFiles = corpus.Files.Count,
            SourceBytes = corpus.TotalBytes,
            Train = splits.Train,
            Validation = splits.Validation,
        };
        dataset.Save(options.OutputDirectory);
        return dataset;
    }

    static (TokenSplit Train, TokenSplit Validation) Write(TextCorpus corpus, DocumentEncoder encoder, TokenDataType dataType,
        string trainPath, string validationPath, PretokenizeOptions options, IProgress<PretokenizeProgress>? progress,
        CancellationToken cancellationToken)
    {
        using var train = new TokenFileWriter(trainPath, dataType);
        using var validation = new TokenFileWriter(validationPath, dataType);
        long trainDocuments = 0, validationDocuments = 0, index = 0, lastReport = 0;
        // One document is held back so that the last can move to a file that would otherwise stay empty.
        var current = new List<int>();
        var held = new List<int>();
        bool heldForValidation = false, holding = false;
        foreach (var document in corpus.ReadDocuments(cancellationToken))
        {
            current.Clear();
            current.Add(Tokenizer.Bos);
            encoder.Encode(document.Text, current);
            if (holding) WriteHeld();
            (held, current) = (current, held);
            heldForValidation = IsHeldOut(index++, options);
            holding = true;
            if (document.Position - lastReport >= 1 << 20)
            {
                lastReport = document.Position;
                progress?.Report(new(document.Position, corpus.TotalBytes, index, train.Count + validation.Count));
            }
        }
        if (!holding) throw new TrainingDataException("the input holds no text to pretokenize");
        if (options.ValidationFraction > 0 && index >= 2)
            heldForValidation = validationDocuments == 0 || (trainDocuments > 0 && heldForValidation);
        WriteHeld();
        progress?.Report(new(corpus.TotalBytes, corpus.TotalBytes, index, train.Count + validation.Count));
        return (new TokenSplit(TrainFileName, trainDocuments, train.Count), new TokenSplit(ValidationFileName, validationDocuments, validation.Count));

        void WriteHeld()
        {
            (heldForValidation ? validation : train).Write(held);
            if (heldForValidation) validationDocuments++;
            else trainDocuments++;
        }
    }

    /// <summary>Whether document <paramref name="index"/> is held out: a SplitMix64 hash of seed and index, as a fraction.</summary>
    static bool IsHeldOut(long index, PretokenizeOptions options)
    {
        ulong z = unchecked((ulong)options.Seed * 0x9E3779B97F4A7C15UL + (ulong)index + 1) * 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (z >> 11) * (1.0 / (1UL << 53)) < options.ValidationFraction;
    }
}

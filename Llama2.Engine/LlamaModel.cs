using System.Diagnostics;
using Llama2.Engine.Generation;
using Llama2.Engine.Inference;
using Llama2.Engine.Model;
using Llama2.Engine.Sampling;
using Llama2.Engine.Tokenization;

namespace Llama2.Engine;

/// <summary>What to do with a model's float weights at load.</summary>
public enum Quantization
{
    /// <summary>Run the weights as the file stores them.</summary>
    None,
    /// <summary>Quantize float weights (fp32, bf16, fp16) to int8 (llama2.c's Q8_0, group size 64 or the largest half of
    /// it that fits) in memory at load; a version 2 file or a GGUF Q8_0 model is int8 already.</summary>
    Q8_0,
}

/// <summary>A loaded model: the checkpoint (mapped, or quantized at load), its tokenizer and the forward pass over them.</summary>
public sealed class LlamaModel : IDisposable
{
    LlamaModel(Checkpoint checkpoint, Tokenizer tokenizer, TimeSpan loadTime)
    {
        Checkpoint = checkpoint;
        Tokenizer = tokenizer;
        Transformer = new Transformer(checkpoint);
        LoadTime = loadTime;
    }

    public Checkpoint Checkpoint { get; }
    public Tokenizer Tokenizer { get; }
    public Transformer Transformer { get; }
    public ModelConfig Config => Checkpoint.Config;
    public TimeSpan LoadTime { get; }

    /// <summary>
    /// Opens the model (a llama2.c .bin, a GGUF file or a Hugging Face folder, see <see cref="Checkpoint.Open"/>) and
    /// reads the tokenizer: <paramref name="tokenizerPath"/>'s tokenizer.bin, or with none the vocabulary stored with a
    /// GGUF or Hugging Face model. Bad files throw <see cref="CheckpointFormatException"/>. With
    /// <see cref="Quantization.Q8_0"/> float weights are quantized in memory (<see cref="Checkpoint.QuantizeInMemory"/>,
    /// <paramref name="progress"/> getting the fraction done) and the files are closed.
    /// </summary>
    public static LlamaModel Load(string checkpointPath, string? tokenizerPath, Quantization quantization = Quantization.None,
        IProgress<double>? progress = null)
    {
        var clock = Stopwatch.StartNew();
        var checkpoint = Checkpoint.Open(checkpointPath);
        try
        {
            var tokenizer = !string.IsNullOrEmpty(tokenizerPath) ? Tokenizer.Load(tokenizerPath, checkpoint.Config.VocabSize)
                : checkpoint.Vocabulary is { } vocabulary ? Tokenizer.FromVocabulary(vocabulary, checkpoint.Config.VocabSize, checkpoint.Path)
                : throw new CheckpointFormatException(checkpoint.Path,
                    $"no tokenizer given, and the model holds no vocabulary{(checkpoint.VocabularyNote is { } note ? $" ({note})" : "")}; give a tokenizer.bin");
            if (quantization == Quantization.Q8_0 && checkpoint.Weights.Format != Kernels.WeightFormat.Q8_0)
            {
                using var file = checkpoint;
                checkpoint = Checkpoint.QuantizeInMemory(file, progress: progress);
            }
            return new LlamaModel(checkpoint, tokenizer, clock.Elapsed);
        }
        catch
        {
            checkpoint.Dispose();
            throw;
        }
    }

    /// <summary>Starts a sequence; step it with <see cref="SequenceGenerator.Next"/>.</summary>
    public SequenceGenerator StartSequence(GenerationRequest request, RunState? state = null) =>
        new(this, request, state ?? Transformer.CreateState());

    /// <summary>
    /// Runs the code paths of serving a few dozen times on scratch caches: decode steps of one and of
    /// <paramref name="sequences"/> sequences together, prompt chunks, and top-p sampling. The JIT compiles the kernels
    /// unoptimised at first and optimises them after some calls, so without this the first requests of a server run
    /// several times slower.
    /// </summary>
    public void WarmUp(int sequences, int steps = 40)
    {
        const int PromptChunk = 10;
        int context = Math.Min(Config.SeqLen, steps + 1);
        sequences = Math.Max(1, sequences);
        var states = new RunState[sequences + 1];
        for (int i = 0; i < states.Length; i++) states[i] = Transformer.CreateState(context);
        var batch = new TokenBatch(Config, sequences + PromptChunk, sequences);
        var sampler = new Sampler(Config.VocabSize, new SamplingOptions { Temperature = 1f, TopP = 0.9f });
        for (int step = 0; step < steps; step++)
        {
            int token = 1 + step % (Config.VocabSize - 1);
            batch.Clear();
            for (int i = 0; i < sequences; i++) batch.Add(states[i], token, step, logits: true);
            Transformer.Forward(batch);
            sampler.Sample(batch.Logits(step % sequences), [], out _);
            Transformer.Forward(token, step, states[0]); // a single stream
            // A prompt chunk (positions wrap within the scratch cache).
            int start = step * PromptChunk % Math.Max(1, context - PromptChunk);
            if (start + PromptChunk <= context)
                Transformer.Prefill(Enumerable.Repeat(token, PromptChunk).ToArray(), start, states[sequences]);
        }
    }

    public void Dispose() => Checkpoint.Dispose();
}

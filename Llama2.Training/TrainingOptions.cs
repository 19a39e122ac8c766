using Llama2.Engine.Model;
using Llama2.Training.Data;
using Llama2.Training.Model;

namespace Llama2.Training;

/// <summary>
/// Everything a training run needs: the model's shape (llama2.c's train.py names in the comments), the data, the
/// optimisation, how often to evaluate and save, and where. Defaults follow train.py where a CPU can afford it.
/// </summary>
public sealed record TrainingOptions
{
    // Model (model.py's ModelArgs).
    /// <summary>dim</summary>
    public int Dim { get; init; } = 288;
    /// <summary>n_layers</summary>
    public int Layers { get; init; } = 6;
    /// <summary>n_heads</summary>
    public int Heads { get; init; } = 6;
    /// <summary>n_kv_heads (null: as many as heads)</summary>
    public int? KvHeads { get; init; }
    /// <summary>vocab_size: the tokenizer's vocabulary.</summary>
    public int VocabSize { get; init; } = 32000;
    /// <summary>max_seq_len: tokens per training sequence, and the exported model's context.</summary>
    public int SeqLen { get; init; } = 256;
    /// <summary>multiple_of, for the hidden size when <see cref="HiddenDim"/> is not given.</summary>
    public int MultipleOf { get; init; } = 32;
    /// <summary>hidden_dim (null: from dim and multiple_of as model.py derives it).</summary>
    public int? HiddenDim { get; init; }

    // Data.
    /// <summary>
    /// A pretokenized dataset's folder (dataset.json with train.bin and val.bin, see <see cref="TokenDataset"/>): the
    /// token files, their data type, the vocabulary size and the tokenizer come from it (see <see cref="WithDataset"/>).
    /// </summary>
    public string? Dataset { get; init; }
    /// <summary>The training tokens: a token file (see <see cref="Batches.TokenFile"/>).</summary>
    public string TrainTokens { get; init; } = "";
    /// <summary>Held-out tokens for the validation loss (null: windows of the training tokens, drawn by a generator of their own).</summary>
    public string? ValidationTokens { get; init; }
    /// <summary>How the token files store a token: uint16 (llama2.c's) or int32.</summary>
    public TokenDataType TokenType { get; init; } = TokenDataType.UInt16;
    /// <summary>A llama2.c tokenizer.bin to show the samples as text (null: as token ids).</summary>
    public string? TokenizerPath { get; init; }

    // Optimisation (train.py).
    /// <summary>batch_size: sequences per micro-batch.</summary>
    public int BatchSize { get; init; } = 16;
    /// <summary>gradient_accumulation_steps: micro-batches per optimiser step.</summary>
    public int GradientAccumulation { get; init; } = 1;
    /// <summary>max_iters: optimiser steps in the run (the cosine decay ends there).</summary>
    public int MaxSteps { get; init; } = 5000;
    /// <summary>learning_rate: the peak.</summary>
    public float LearningRate { get; init; } = 5e-4f;
    /// <summary>min_lr: where the cosine decay ends.</summary>
    public float MinLearningRate { get; init; }
    /// <summary>warmup_iters</summary>
    public int WarmupSteps { get; init; } = 100;
    public float WeightDecay { get; init; } = 0.1f;
    public float Beta1 { get; init; } = 0.9f;
    public float Beta2 { get; init; } = 0.95f;
    /// <summary>grad_clip: the largest global gradient norm (0: no clipping).</summary>
    public float GradientClip { get; init; } = 1f;
    /// <summary>The seed of the initial weights and of the batches: the same seed and options give the same run, bit for bit.</summary>
    public ulong Seed { get; init; } = 1337;

    // Evaluation and checkpoints.
    /// <summary>eval_interval: every this many steps, the validation loss, a sample and a checkpoint.</summary>
    public int EvalInterval { get; init; } = 250;
    /// <summary>eval_iters: validation batches per evaluation.</summary>
    public int EvalBatches { get; init; } = 20;
    /// <summary>Tokens generated for the sample at each evaluation (0: no sample).</summary>
    public int SampleTokens { get; init; } = 64;
    /// <summary>Temperature of the sample (0: greedy).</summary>
    public float SampleTemperature { get; init; } = 1f;
    /// <summary>out_dir: the checkpoints, the exported model, loss.csv and loss.png.</summary>
    public string OutputDirectory { get; init; } = "out";
    /// <summary>Continue from the training checkpoint in <see cref="OutputDirectory"/> (train.py's init_from = 'resume').</summary>
    public bool Resume { get; init; }
    /// <summary>
    /// Start from the weights of a llama2.c checkpoint (fp32, version 0 or 1, classifier shared) instead of a random
    /// initialisation (fine-tuning); the model's shape is then the checkpoint's, whatever the shape options say.
    /// </summary>
    public string? InitFrom { get; init; }

    /// <summary>
    /// With <see cref="Dataset"/> set, the options with its token files, data type and vocabulary size, and its tokenizer
    /// unless one is given (and the dataset's still exists); a missing or bad dataset.json throws
    /// <see cref="TrainingDataException"/>. Without, the options as they are.
    /// </summary>
    public TrainingOptions WithDataset()
    {
        if (Dataset is null) return this;
        var dataset = TokenDataset.Load(Dataset);
        return this with
        {
            TrainTokens = TokenDataset.PathOf(Dataset, dataset.Train),
            ValidationTokens = dataset.Validation.Tokens > 0 ? TokenDataset.PathOf(Dataset, dataset.Validation) : null,
            TokenType = dataset.DataType,
            VocabSize = dataset.VocabSize,
            TokenizerPath = TokenizerPath ?? (File.Exists(dataset.Tokenizer) ? dataset.Tokenizer : null),
        };
    }

    /// <summary>The model's shape; throws <see cref="ArgumentException"/> saying what is wrong with it.</summary>
    public ModelConfig ModelConfig() => ModelShape.Create(Dim, Layers, Heads, KvHeads, VocabSize, SeqLen, MultipleOf, HiddenDim);

    /// <summary>Every problem with the options, in words; empty when they are valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        try { ModelConfig(); }
        catch (ArgumentException e) { problems.Add(e.Message); }
        if (string.IsNullOrWhiteSpace(TrainTokens)) problems.Add("no training tokens given (a dataset folder or a token file)");
        if (BatchSize <= 0) problems.Add($"the batch size must be positive (got {BatchSize})");
        if (GradientAccumulation <= 0) problems.Add($"gradient accumulation must be at least 1 (got {GradientAccumulation})");
        if (MaxSteps <= 0) problems.Add($"the number of steps must be positive (got {MaxSteps})");
        if (!(LearningRate > 0) || float.IsInfinity(LearningRate)) problems.Add($"the learning rate must be a positive number (got {LearningRate})");
        if (!(MinLearningRate >= 0) || MinLearningRate > LearningRate) problems.Add($"the minimum learning rate must be in 0..{LearningRate} (got {MinLearningRate})");
        if (WarmupSteps < 0) problems.Add($"warm-up steps must be ≥ 0 (got {WarmupSteps})");
        if (!(WeightDecay >= 0)) problems.Add($"weight decay must be ≥ 0 (got {WeightDecay})");
        if (!(Beta1 >= 0 && Beta1 < 1) || !(Beta2 >= 0 && Beta2 < 1)) problems.Add($"β1 and β2 must be in [0, 1) (got {Beta1}, {Beta2})");
        if (!(GradientClip >= 0)) problems.Add($"the gradient clip must be ≥ 0 (got {GradientClip})");
        if (EvalInterval <= 0) problems.Add($"the evaluation interval must be positive (got {EvalInterval})");
        if (EvalBatches < 0) problems.Add($"evaluation batches must be ≥ 0 (got {EvalBatches})");
        if (SampleTokens < 0) problems.Add($"sample tokens must be ≥ 0 (got {SampleTokens})");
        if (!(SampleTemperature >= 0) || float.IsInfinity(SampleTemperature)) problems.Add($"the sample temperature must be a number ≥ 0 (got {SampleTemperature})");
        if (string.IsNullOrWhiteSpace(OutputDirectory)) problems.Add("no output directory given");
        if (Resume && InitFrom is not null) problems.Add("resume continues a run's own checkpoint; it cannot start from another model too");
        return problems;
    }
}

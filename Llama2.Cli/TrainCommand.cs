using System.CommandLine;
using System.CommandLine.Parsing;
using System.Diagnostics;
using Llama2.Engine.Kernels;
using Llama2.Engine.Progress;
using Llama2.Training;
using Llama2.Training.Data;

namespace Llama2.Cli;

/// <summary>
/// <c>Llama2.Cli train (--data DIR | --train-tokens F [--val-tokens F] [--token-type uint16|int32] --vocab N) [shape]
/// [optimisation] [evaluation] [--out out] [--resume | --init-from model.bin] [--threads N]</c>: a training run
/// (<see cref="TrainingRunner"/>), train.py's options under its names. Steps show as a progress bar on stderr;
/// evaluations, samples and checkpoints as lines on stdout. Ctrl+C finishes the step under way, saves, and exits 130.
/// </summary>
public static class TrainCommand
{
    public static Command Create()
    {
        var d = new TrainingOptions();

        // Data.
        var data = new Option<string?>("--data") { Description = "a pretokenized dataset folder (from pretokenize)", HelpName = "folder" };
        var trainTokens = new Option<string?>("--train-tokens") { Description = "a token file to train on, instead of --data", HelpName = "file" };
        var validationTokens = new Option<string?>("--val-tokens")
        {
            Description = "held-out tokens for the validation loss (with --train-tokens; default: windows of the training tokens)",
            HelpName = "file",
        };
        var tokenType = new Option<string>("--token-type")
        {
            Description = "how --train-tokens stores a token",
            DefaultValueFactory = _ => "uint16",
        }.AcceptOnlyFromAmong("uint16", "int32");
        var vocab = new Option<int?>("--vocab") { Description = "the vocabulary size of --train-tokens", HelpName = "int" }.AcceptNumbers(3, 1 << 20);
        var tokenizer = new Option<string?>("--tokenizer")
        {
            Description = "a tokenizer.bin to show the samples as text (default: the dataset's)",
            HelpName = "file",
        };

        // Model.
        var dim = Whole("--dim", "model width", d.Dim, 1);
        var layers = Whole("--layers", "transformer layers", d.Layers, 1);
        var heads = Whole("--heads", "attention heads", d.Heads, 1);
        var kvHeads = new Option<int?>("--kv-heads") { Description = "key/value heads (default: as many as --heads)", HelpName = "int" }.AcceptNumbers(1);
        var hiddenDim = new Option<int?>("--hidden-dim")
        {
            Description = "feed-forward width (default: from --dim and --multiple-of, as model.py)",
            HelpName = "int",
        }.AcceptNumbers(1);
        var multipleOf = Whole("--multiple-of", "the derived feed-forward width is a multiple of this", d.MultipleOf, 1);
        var seqLen = Whole("--seq-len", "tokens per training sequence, and the model's context", d.SeqLen, 1);

        // Optimisation.
        var batchSize = Whole("--batch-size", "sequences per micro-batch", d.BatchSize, 1);
        var gradAccum = Whole("--grad-accum", "micro-batches per optimiser step", d.GradientAccumulation, 1);
        var steps = Whole("--steps", "optimiser steps (the cosine decay ends there)", d.MaxSteps, 1);
        var lr = Real("--lr", "peak learning rate", d.LearningRate);
        var minLr = Real("--min-lr", "learning rate at the end of the decay", d.MinLearningRate);
        var warmup = Whole("--warmup", "steps of linear warm-up", d.WarmupSteps, 0);
        var weightDecay = Real("--weight-decay", "AdamW's decoupled weight decay (matrices only)", d.WeightDecay);
        var beta1 = Real("--beta1", "AdamW's β1", d.Beta1);
        var beta2 = Real("--beta2", "AdamW's β2", d.Beta2);
        var gradClip = Real("--grad-clip", "largest global gradient norm; 0 = no clipping", d.GradientClip);
        var seed = new Option<ulong>("--seed")
        {
            Description = "seed of the initial weights and the batches: the same seed, options and --threads give the same run, bit for bit",
            HelpName = "int",
            DefaultValueFactory = _ => d.Seed,
        }.AcceptNumbers();

        // Evaluation and output.
        var evalInterval = Whole("--eval-interval", "steps between evaluations (validation loss, sample, checkpoint)", d.EvalInterval, 1);
        var evalBatches = Whole("--eval-batches", "validation batches per evaluation", d.EvalBatches, 0);
        var sampleTokens = Whole("--sample-tokens", "tokens of the sample shown at each evaluation; 0 = none", d.SampleTokens, 0);
        var sampleTemperature = Real("--sample-temperature", "temperature of the sample; 0 = greedy", d.SampleTemperature);
        var outDir = new Option<string>("--out")
        {
            Description = "folder for checkpoint.bin (to resume), model.bin (llama2.c version 0), loss.csv and loss.png",
            HelpName = "folder",
            DefaultValueFactory = _ => d.OutputDirectory,
        };
        var resume = new Option<bool>("--resume") { Description = "continue the run saved in --out, with its own options" };
        var initFrom = new Option<string?>("--init-from")
        {
            Description = "start from a llama2.c checkpoint's weights and shape (fp32, classifier shared) instead of random ones",
            HelpName = "file",
        };
        var threads = new Option<int?>("--threads") { Description = "worker threads; default: all cores", HelpName = "int" }
            .AcceptNumbers(1, Workers.MaxThreads);

        // What --resume takes from the saved run instead.
        Option[] saved =
        [
            tokenType, vocab, dim, layers, heads, kvHeads, hiddenDim, multipleOf, seqLen, batchSize, gradAccum, steps, lr, minLr, warmup,
            weightDecay, beta1, beta2, gradClip, seed, evalInterval, evalBatches, sampleTokens, sampleTemperature, initFrom,
        ];

        var command = new Command("train", """
            Trains a Llama 2 model from scratch (or from --init-from) on pretokenized text, as llama2.c's train.py: AdamW,
            warm-up then cosine decay, gradient clipping. Every --eval-interval steps: the validation loss, a sample, and in
            --out a checkpoint to resume from, the model as a llama2.c checkpoint (version 0), loss.csv and loss.png.
            Ctrl+C finishes the step under way and saves. Example:
            Llama2.Cli train --data data/kjv --dim 256 --layers 4 --heads 8 --kv-heads 4 --steps 1500 --out out/kjv
            """)
        {
            data, trainTokens, validationTokens, tokenType, vocab, tokenizer,
            dim, layers, heads, kvHeads, hiddenDim, multipleOf, seqLen,
            batchSize, gradAccum, steps, lr, minLr, warmup, weightDecay, beta1, beta2, gradClip, seed,
            evalInterval, evalBatches, sampleTokens, sampleTemperature, outDir, resume, initFrom, threads,
        };
        command.Validators.Add(result =>
        {
            bool Given(Option option) => result.GetResult(option) is { Implicit: false };
            bool resuming = result.GetValue(resume);
            if (Given(data) && Given(trainTokens)) result.AddError("give --data or --train-tokens, not both");
            else if (!resuming && !Given(data) && !Given(trainTokens))
                result.AddError("no training data: give --data (a folder from pretokenize) or --train-tokens (a token file) and --vocab");
            if (!Given(trainTokens))
                foreach (var option in new Option[] { validationTokens, tokenType, vocab }.Where(Given))
                    result.AddError($"{option.Name} goes with --train-tokens (a dataset folder says it in its dataset.json)");
            if (resuming)
            {
                foreach (var option in saved.Where(Given))
                    result.AddError($"--resume continues the run with its saved options; {option.Name} cannot change them");
            }
            else if (Given(trainTokens) && !Given(vocab) && !Given(initFrom))
                result.AddError("--train-tokens needs --vocab, the vocabulary size of its tokenizer");
        });
        command.SetAction((parsed, cancellationToken) => RunAsync(new TrainingOptions
        {
            Dataset = parsed.GetValue(data),
            TrainTokens = parsed.GetValue(trainTokens) ?? "",
            ValidationTokens = parsed.GetValue(validationTokens),
            TokenType = parsed.GetRequiredValue(tokenType) == "int32" ? TokenDataType.Int32 : TokenDataType.UInt16,
            VocabSize = parsed.GetValue(vocab) ?? d.VocabSize,
            TokenizerPath = parsed.GetValue(tokenizer),
            Dim = parsed.GetValue(dim),
            Layers = parsed.GetValue(layers),
            Heads = parsed.GetValue(heads),
            KvHeads = parsed.GetValue(kvHeads),
            HiddenDim = parsed.GetValue(hiddenDim),
            MultipleOf = parsed.GetValue(multipleOf),
            SeqLen = parsed.GetValue(seqLen),
            BatchSize = parsed.GetValue(batchSize),
            GradientAccumulation = parsed.GetValue(gradAccum),
            MaxSteps = parsed.GetValue(steps),
            LearningRate = parsed.GetValue(lr),
            MinLearningRate = parsed.GetValue(minLr),
            WarmupSteps = parsed.GetValue(warmup),
            WeightDecay = parsed.GetValue(weightDecay),
            Beta1 = parsed.GetValue(beta1),
            Beta2 = parsed.GetValue(beta2),
            GradientClip = parsed.GetValue(gradClip),
            Seed = parsed.GetValue(seed),
            EvalInterval = parsed.GetValue(evalInterval),
            EvalBatches = parsed.GetValue(evalBatches),
            SampleTokens = parsed.GetValue(sampleTokens),
            SampleTemperature = parsed.GetValue(sampleTemperature),
            OutputDirectory = parsed.GetRequiredValue(outDir),
            Resume = parsed.GetValue(resume),
            InitFrom = parsed.GetValue(initFrom),
        }, parsed.GetValue(threads), cancellationToken));
        return command;
    }

    static Option<int> Whole(string name, string description, int defaultValue, int min) =>
        new Option<int>(name) { Description = description, HelpName = "int", DefaultValueFactory = _ => defaultValue }.AcceptNumbers(min);

    static Option<float> Real(string name, string description, float defaultValue) =>
        new Option<float>(name) { Description = description, HelpName = "float", DefaultValueFactory = _ => defaultValue }.AcceptNumbers(0f);

    /// <summary>
    /// Runs the training on a foreground thread of its own. After Ctrl+C, System.CommandLine returns from the verb after
    /// two seconds whether or not it has finished; a foreground thread keeps the process alive until the step under
    /// way is finished and saved, however long that takes.
    /// </summary>
    static Task<int> RunAsync(TrainingOptions options, int? threads, CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        new Thread(() =>
        {
            try
            {
                done.SetResult(VerbErrors.Run(() => Train(options, threads, cancellationToken)));
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        })
        {
            IsBackground = false,
            Name = "training",
        }.Start();
        return done.Task;
    }

    static int Train(TrainingOptions options, int? threads, CancellationToken cancellationToken)
    {
        if (threads is { } count) Workers.ThreadCount = count;
        var runner = new TrainingRunner(options);
        var o = runner.Options;
        var config = o.ModelConfig();
        Console.WriteLine($"{(o.Resume ? "resuming" : "training")} {config} ({config.ParameterCount:N0} parameters) in {o.OutputDirectory}");
        Console.WriteLine($"on {o.TrainTokens}{(o.ValidationTokens is null ? "" : $", validation {o.ValidationTokens}")}: " +
            $"{o.BatchSize} × {o.GradientAccumulation} × {o.SeqLen} tokens a step, {o.MaxSteps} steps, {Workers.ThreadCount} " +
            (Workers.ThreadCount == 1 ? "thread" : "threads"));

        var bar = ProgressBar.OnStandardError();
        var clock = Stopwatch.StartNew();
        TrainingResult result;
        try
        {
            result = runner.Run(new Reporter(bar), cancellationToken);
        }
        finally
        {
            bar.Complete();
        }
        Console.WriteLine($"{(result.Cancelled ? "stopped" : "finished")} at step {result.Steps} after {clock.Elapsed:h\\:mm\\:ss}" +
            (result is { Cancelled: false, ValidationLoss: { } loss } ? $"; validation loss {loss:F4}" : "") +
            $"; saved {result.CheckpointPath} and {result.ModelPath}");
        if (!result.Cancelled) return 0;
        Console.Error.WriteLine($"cancelled; continue with: Llama2.Cli train --resume --out {o.OutputDirectory}");
        return RunCommand.Cancelled;
    }

    /// <summary>Steps to the progress bar; evaluations and checkpoints as lines, after the bar's line. On the training thread, in order.</summary>
    sealed class Reporter(ProgressBar bar) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress p)
        {
            if (p.Event == TrainingEvent.Step)
            {
                bar.Report(p.Fraction, p.ToString());
                return;
            }
            bar.Complete();
            Console.WriteLine(p.ToString());
        }
    }
}

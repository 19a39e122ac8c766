using Llama2.Training.Batches;
using Llama2.Training.Model;
using Llama2.Training.Optimization;

namespace Llama2.Training;

/// <summary>What one optimiser step did.</summary>
public readonly record struct StepResult(float Loss, float LearningRate, float GradientNorm);

/// <summary>
/// One optimiser step at a time, as train.py's loop: the micro-batches' gradients accumulated (each weighted
/// 1 / their number), clipped to the global norm, then AdamW at the schedule's learning rate for the step.
/// </summary>
public sealed class Trainer
{
    public Trainer(TrainingModel model, TrainingOptions options)
    {
        Model = model;
        Options = options;
        Optimizer = new AdamW(model.Parameters.Length, model.Layout.DecayStart, options.Beta1, options.Beta2, weightDecay: options.WeightDecay);
        Schedule = new LearningRateSchedule(options.LearningRate, options.WarmupSteps, options.MaxSteps, options.MinLearningRate);
    }

    public TrainingModel Model { get; }
    public TrainingOptions Options { get; }
    public AdamW Optimizer { get; }
    public LearningRateSchedule Schedule { get; }

    /// <summary>Optimiser steps taken so far; the next step is this one (0-based) of the schedule.</summary>
    public long Step { get; set; }

    /// <summary>Takes step <see cref="Step"/> on batches drawn from <paramref name="batches"/>.</summary>
    public StepResult TrainStep(BatchSampler batches)
    {
        int micro = Options.GradientAccumulation;
        Model.ZeroGradients();
        double loss = 0;
        for (int i = 0; i < micro; i++)
        {
            batches.Next();
            loss += Model.ForwardBackward(batches.Inputs, batches.Targets, batches.Sequences, batches.SeqLen, 1f / micro);
        }
        float norm = GradientClipping.Clip(Model.Gradients, Options.GradientClip);
        float lr = Schedule.At(Step);
        Optimizer.Step(Model.Parameters, Model.Gradients, lr);
        Model.ParametersChanged();
        Step++;
        return new StepResult((float)(loss / micro), lr, norm);
    }
}

namespace Llama2.Training.Optimization;

/// <summary>
/// Linear warm-up to the peak rate over <see cref="WarmupSteps"/> steps, then cosine decay to <see cref="MinRate"/> at
/// <see cref="DecaySteps"/> (llama2.c's train.py sets it to the run's last step), flat after. Steps count from 0; the
/// warm-up's first step already has rate peak / warmup, not 0.
/// </summary>
public sealed record LearningRateSchedule(float PeakRate, int WarmupSteps, int DecaySteps, float MinRate = 0f)
{
    public float At(long step)
    {
        if (step < WarmupSteps) return PeakRate * (step + 1) / WarmupSteps;
        if (step >= DecaySteps) return MinRate;
        double ratio = (double)(step - WarmupSteps) / Math.Max(1, DecaySteps - WarmupSteps);
        double coefficient = 0.5 * (1.0 + Math.Cos(Math.PI * ratio));
        return (float)(MinRate + coefficient * (PeakRate - MinRate));
    }
}

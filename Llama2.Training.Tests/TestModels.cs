namespace Llama2.Training.Tests;

static class TestModels
{
    /// <summary>Weights far from model.py's 0.02, so that every path carries a signal well above rounding.</summary>
    public static TrainingModel WithRandomWeights(ModelConfig config, int sequences, int seed)
    {
        var model = new TrainingModel(config, sequences);
        var random = new Random(seed);
        var p = model.Parameters;
        var layout = model.Layout;
        foreach (var tensor in layout.Tensors)
        {
            var view = p.Slice((int)layout.Offset(tensor), (int)layout.ElementCount(tensor));
            bool gain = tensor is TensorKind.RmsAtt or TensorKind.RmsFfn or TensorKind.RmsFinal;
            for (int i = 0; i < view.Length; i++) view[i] = gain ? 1f + 0.2f * (float)(random.NextDouble() - 0.5) : 0.4f * (float)(random.NextDouble() - 0.5);
        }
        model.ParametersChanged();
        return model;
    }

    public static (int[] Inputs, int[] Targets) RandomTokens(int count, int vocab, int seed)
    {
        var random = new Random(seed);
        return (Enumerable.Range(0, count).Select(_ => random.Next(vocab)).ToArray(), Enumerable.Range(0, count).Select(_ => random.Next(vocab)).ToArray());
    }
}

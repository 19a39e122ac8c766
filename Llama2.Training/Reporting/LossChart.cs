namespace Llama2.Training.Reporting;

/// <summary>The loss curve as a PNG (ScottPlot): training loss at every step, validation loss at each evaluation.</summary>
public static class LossChart
{
    public static void Save(string path, IReadOnlyList<LossRecord> records, int width = 900, int height = 500)
    {
        var plot = new ScottPlot.Plot();
        var train = records.Where(r => !float.IsNaN(r.TrainLoss)).ToArray();
        var validation = records.Where(r => r.ValidationLoss is not null).ToArray();
        if (train.Length > 0)
        {
            var line = plot.Add.ScatterLine(train.Select(r => (double)r.Step).ToArray(), train.Select(r => (double)r.TrainLoss).ToArray());
            line.LegendText = "train";
        }
        if (validation.Length > 0)
        {
            var points = plot.Add.Scatter(validation.Select(r => (double)r.Step).ToArray(), validation.Select(r => (double)r.ValidationLoss!.Value).ToArray());
            points.LegendText = "validation";
            points.MarkerSize = 8;
        }
        plot.Title("Loss");
        plot.XLabel("step");
        plot.YLabel("cross-entropy (nats)");
        plot.ShowLegend(ScottPlot.Alignment.UpperRight);
        string temporary = path + ".partial.png";
        plot.SavePng(temporary, width, height);
        File.Move(temporary, path, overwrite: true);
    }
}

using System.Globalization;
using System.Text;

namespace Llama2.Training.Reporting;

/// <summary>One row of loss.csv: a step's training loss, and the validation loss where the step was evaluated.</summary>
public readonly record struct LossRecord(long Step, float LearningRate, float TrainLoss, float? ValidationLoss, double TokensPerSecond);

/// <summary>
/// The run's losses, step by step, written as loss.csv (step, learning_rate, train_loss, val_loss, tokens_per_second)
/// and drawn as loss.png beside the checkpoints. A resumed run reads the file back, keeping the rows up to the
/// checkpoint's step.
/// </summary>
public sealed class LossLog
{
    const string Header = "step,learning_rate,train_loss,val_loss,tokens_per_second";
    readonly List<LossRecord> _records = [];

    public IReadOnlyList<LossRecord> Records => _records;

    /// <summary>A step's training loss (step 1 is the first).</summary>
    public void AddStep(long step, float learningRate, float loss, double tokensPerSecond) =>
        _records.Add(new LossRecord(step, learningRate, loss, null, tokensPerSecond));

    /// <summary>The validation loss after <paramref name="step"/> steps: on that step's row, or a row of its own (step 0).</summary>
    public void AddValidation(long step, float loss)
    {
        if (_records.Count > 0 && _records[^1].Step == step) _records[^1] = _records[^1] with { ValidationLoss = loss };
        else _records.Add(new LossRecord(step, float.NaN, float.NaN, loss, double.NaN));
    }

    public void Save(string path)
    {
        var text = new StringBuilder(Header).Append('\n');
        foreach (var r in _records)
            text.Append(CultureInfo.InvariantCulture,
                $"{r.Step},{Number(r.LearningRate)},{Number(r.TrainLoss)},{(r.ValidationLoss is { } v ? Number(v) : "")},{(double.IsNaN(r.TokensPerSecond) ? "" : r.TokensPerSecond.ToString("F1", CultureInfo.InvariantCulture))}\n");
        string temporary = path + ".partial";
        File.WriteAllText(temporary, text.ToString());
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>A float as the shortest text that reads back as the same float.</summary>
    static string Number(float value) => float.IsNaN(value) ? "" : value.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>The rows of a loss.csv with steps up to <paramref name="lastStep"/>; a missing file gives an empty log.</summary>
    public static LossLog Load(string path, long lastStep)
    {
        var log = new LossLog();
        if (!File.Exists(path)) return log;
        foreach (var line in File.ReadLines(path).Skip(1))
        {
            var f = line.Split(',');
            if (f.Length != 5 || !long.TryParse(f[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out long step))
                throw new InvalidDataException($"{path}: not a loss log row: '{line}'");
            if (step > lastStep) break;
            log._records.Add(new LossRecord(step, Float(f[1]), Float(f[2]), f[3].Length == 0 ? null : Float(f[3]), f[4].Length == 0 ? double.NaN : Float(f[4])));
        }
        return log;

        float Float(string s) => s.Length == 0 ? float.NaN
            : float.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out float v) ? v
            : throw new InvalidDataException($"{path}: '{s}' is not a number");
    }
}

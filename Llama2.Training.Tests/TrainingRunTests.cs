using Llama2.Training.Batches;
using static Llama2.TestSupport.TestCancellation;
using Llama2.Training.Export;
using Llama2.Training.Reporting;

namespace Llama2.Training.Tests;

/// <summary>Whole runs on <see cref="TestCorpus"/>.</summary>
public sealed class TrainingRunTests
{
    const int Vocab = TestCorpus.Vocab;

    static TrainingOptions Options(TempDirectory temp, int maxSteps, int evalInterval, string output = "out")
    {
        if (!File.Exists(temp.File("train.bin")))
        {
            TestCorpus.Write(temp.File("train.bin"), TestCorpus.Documents(3000, seed: 2));
            TestCorpus.Write(temp.File("val.bin"), TestCorpus.Documents(300, seed: 3));
        }
        return new TrainingOptions
        {
            Dim = 32, Layers = 2, Heads = 4, KvHeads = 2, VocabSize = Vocab, SeqLen = 32, HiddenDim = 64,
            TrainTokens = temp.File("train.bin"), ValidationTokens = temp.File("val.bin"),
            BatchSize = 8, GradientAccumulation = 2, MaxSteps = maxSteps, LearningRate = 1e-2f, WarmupSteps = 10, MinLearningRate = 1e-3f,
            EvalInterval = evalInterval, EvalBatches = 4, SampleTokens = 16, OutputDirectory = temp.File(output), Seed = 42,
        };
    }

    sealed class Recorder(Action<TrainingProgress>? also = null) : IProgress<TrainingProgress>
    {
        public List<TrainingProgress> Reports { get; } = [];

        public void Report(TrainingProgress value)
        {
            Reports.Add(value);
            also?.Invoke(value);
        }
    }

    [Fact]
    public void TheValidationLossFallsBelowPointFourAndEverythingIsWrittenBesideTheCheckpoint()
    {
        using var temp = new TempDirectory();
        var options = Options(temp, maxSteps: 100, evalInterval: 50);
        var recorder = new Recorder();
        var result = new TrainingRunner(options).Run(recorder, TestContext.Current.CancellationToken);

        Assert.False(result.Cancelled);
        Assert.Equal(100, result.Steps);
        var evaluations = recorder.Reports.Where(r => r.Event == TrainingEvent.Evaluation).ToList();
        foreach (var report in recorder.Reports.Where(r => r.Event != TrainingEvent.Step || r.Step % 50 == 0))
            TestContext.Current.TestOutputHelper?.WriteLine(report.ToString());
        Assert.Equal([0L, 50, 100], evaluations.Select(r => r.Step));
        Assert.True(evaluations[0].ValidationLoss > 3.0f, $"untrained: {evaluations[0].ValidationLoss} (ln 32 ≈ 3.47)");
        Assert.True(result.ValidationLoss < 0.4f, $"validation loss after 100 steps: {result.ValidationLoss}");
        Assert.Null(evaluations[0].Sample);
        Assert.All(evaluations.Skip(1), e => Assert.Matches(@"^\d+( \d+)*$", e.Sample!)); // token ids without a tokenizer

        var steps = recorder.Reports.Where(r => r.Event == TrainingEvent.Step).ToList();
        Assert.Equal(Enumerable.Range(1, 100).Select(i => (long)i), steps.Select(r => r.Step));
        Assert.True(steps[0].LearningRate < steps[9].LearningRate && steps[9].LearningRate > steps[^1].LearningRate); // warm-up, then decay
        Assert.All(steps, s => Assert.True(s.TokensPerSecond > 0 && s.LearningRate > 0 && s.TotalSteps == 100));
        Assert.Contains("step 100/100 | loss ", steps[^1].ToString());
        Assert.Equal(0.5, steps[49].Fraction);

        var log = LossLog.Load(Path.Combine(options.OutputDirectory, TrainingRunner.LossCsvFile), long.MaxValue);
        Assert.Equal(101, log.Records.Count); // step 0's validation, then every step
        Assert.Equal(steps.Select(s => s.Loss), log.Records.Skip(1).Select(r => r.TrainLoss));
        byte[] png = File.ReadAllBytes(Path.Combine(options.OutputDirectory, TrainingRunner.LossChartFile));
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
        Assert.Equal(options.ModelConfig(), CheckpointExport.ReadConfig(result.ModelPath));

        // The training checkpoint exports as the same model: version 0 is model.bin itself.
        CheckpointExport.FromTrainingCheckpoint(result.CheckpointPath, temp.File("again.bin"), version: 0);
        Assert.Equal(File.ReadAllBytes(result.ModelPath), File.ReadAllBytes(temp.File("again.bin")));
    }

    [Fact]
    public void ARunStoppedAndResumedMatchesAnUninterruptedRunStepForStep()
    {
        using var temp = new TempDirectory();
        var whole = Options(temp, maxSteps: 30, evalInterval: 10, output: "whole");
        var wholeSteps = new Recorder();
        new TrainingRunner(whole).Run(wholeSteps, TestContext.Current.CancellationToken);

        // The same run, cancelled during step 17 (as Ctrl+C would): it finishes the step, saves and returns.
        var parts = whole with { OutputDirectory = temp.File("parts") };
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var firstPart = new Recorder(p => { if (p.Event == TrainingEvent.Step && p.Step == 17) cancel.Cancel(); });
        var stopped = new TrainingRunner(parts).Run(firstPart, cancel.Token);
        Assert.True(stopped.Cancelled);
        Assert.Equal(17, stopped.Steps);
        Assert.Contains(firstPart.Reports, r => r.Event == TrainingEvent.Checkpoint && r.Step == 17);

        var secondPart = new Recorder();
        var resumed = new TrainingRunner(new TrainingOptions { OutputDirectory = parts.OutputDirectory, Resume = true }).Run(secondPart, TestContext.Current.CancellationToken);
        Assert.False(resumed.Cancelled);
        Assert.Equal(30, resumed.Steps);

        static IEnumerable<(long, float, float)> Steps(IEnumerable<TrainingProgress> reports) =>
            reports.Where(r => r.Event == TrainingEvent.Step).Select(r => (r.Step, r.Loss, r.LearningRate));
        Assert.Equal(Steps(wholeSteps.Reports), Steps(firstPart.Reports).Concat(Steps(secondPart.Reports)));
        Assert.Equal(wholeSteps.Reports.Where(r => r.Event == TrainingEvent.Evaluation).Select(r => (r.Step, r.ValidationLoss, r.Sample)),
            firstPart.Reports.Concat(secondPart.Reports).Where(r => r.Event == TrainingEvent.Evaluation).Select(r => (r.Step, r.ValidationLoss, r.Sample)));
        Assert.Equal(File.ReadAllBytes(Path.Combine(whole.OutputDirectory, TrainingRunner.ModelFile)), File.ReadAllBytes(Path.Combine(parts.OutputDirectory, TrainingRunner.ModelFile)));
        // The checkpoints' parameters and moments (after headers that name different folders).
        static byte[] State(string directory)
        {
            var bytes = File.ReadAllBytes(Path.Combine(directory, TrainingRunner.CheckpointFile));
            return bytes[(8 + 4 + BitConverter.ToInt32(bytes, 8))..];
        }
        Assert.Equal(State(whole.OutputDirectory), State(parts.OutputDirectory));
        var wholeLog = LossLog.Load(Path.Combine(whole.OutputDirectory, TrainingRunner.LossCsvFile), long.MaxValue).Records;
        var partsLog = LossLog.Load(Path.Combine(parts.OutputDirectory, TrainingRunner.LossCsvFile), long.MaxValue).Records;
        Assert.Equal(wholeLog.Select(r => (r.Step, r.TrainLoss, r.ValidationLoss)), partsLog.Select(r => (r.Step, r.TrainLoss, r.ValidationLoss)));
    }

    [Fact]
    public void FineTuningStartsFromTheGivenModelAndResumesFromItsOwnCheckpoint()
    {
        using var temp = new TempDirectory();
        var first = Options(temp, maxSteps: 40, evalInterval: 40, output: "first");
        var trained = new TrainingRunner(first).Run(cancellationToken: TestContext.Current.CancellationToken);
        var fineTune = Options(temp, maxSteps: 3, evalInterval: 10, output: "second") with { InitFrom = trained.ModelPath, Dim = 64, Layers = 1 };
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var recorder = new Recorder(p => { if (p.Event == TrainingEvent.Step && p.Step == 1) cancel.Cancel(); });
        var runner = new TrainingRunner(fineTune);
        Assert.Equal(first.ModelConfig(), runner.Options.ModelConfig()); // known before the run, for the caller to show
        var stopped = runner.Run(recorder, cancel.Token);
        // The shape is the model's, and step 0's validation loss is the trained model's, not a fresh one's ~3.47.
        Assert.Equal(first.ModelConfig(), CheckpointExport.ReadConfig(Path.Combine(fineTune.OutputDirectory, TrainingRunner.ModelFile)));
        Assert.Equal(trained.ValidationLoss, recorder.Reports.First(r => r.Event == TrainingEvent.Evaluation).ValidationLoss);
        Assert.Equal(1, stopped.Steps);

        var resumed = new TrainingRunner(new TrainingOptions { OutputDirectory = fineTune.OutputDirectory, Resume = true })
            .Run(cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(3, resumed.Steps);
    }

    /// <summary>
    /// From text to a model: a tokenizer trained on synthetic text, the text pretokenized into a dataset folder, and a
    /// run on that folder alone; the samples come out as the tokenizer's text.
    /// </summary>
    [Fact]
    public void ARunOnAPretokenizedDatasetLearnsAndSamplesText()
    {
        using var temp = new TempDirectory();
        var documents = SyntheticText.Documents(600, seed: 5);
        File.WriteAllLines(temp.File("corpus.jsonl"), documents.Select(d => System.Text.Json.JsonSerializer.Serialize(new { text = d.Trim() })));
        var corpus = TextCorpus.Open([temp.File("corpus.jsonl")]);
        using (var tokenizer = File.Create(temp.File("tokenizer.bin")))
            TokenizerTrainer.Train(corpus, new TokenizerTrainingOptions { VocabSize = 512 }, cancellationToken: TestToken).WriteTo(tokenizer);
        var dataset = Pretokenizer.Run(corpus, new PretokenizeOptions { TokenizerPath = temp.File("tokenizer.bin"), OutputDirectory = temp.File("data") },
            cancellationToken: TestToken);

        var recorder = new Recorder();
        var result = new TrainingRunner(new TrainingOptions
        {
            Dataset = temp.File("data"), Dim = 32, Layers = 2, Heads = 4, SeqLen = 64, BatchSize = 8, MaxSteps = 40, LearningRate = 1e-2f,
            WarmupSteps = 5, EvalInterval = 40, EvalBatches = 2, SampleTokens = 24, OutputDirectory = temp.File("out"),
        }).Run(recorder, TestToken);

        Assert.Equal(dataset.VocabSize, CheckpointExport.ReadConfig(result.ModelPath).VocabSize);
        var evaluations = recorder.Reports.Where(r => r.Event == TrainingEvent.Evaluation).ToList();
        Assert.True(evaluations[^1].ValidationLoss < evaluations[0].ValidationLoss - 1f,
            $"validation loss {evaluations[0].ValidationLoss} at the start, {evaluations[^1].ValidationLoss} after 40 steps");
        string sample = evaluations[^1].Sample!;
        Assert.DoesNotMatch(@"^\d+( \d+)*$", sample); // text, not token ids
        Assert.True(sample.Trim().Length > 0 && sample.Contains(' '), $"sample: '{sample}'");
    }

    [Fact]
    public void BadOptionsAreReportedTogether()
    {
        var e = Assert.Throws<ArgumentException>(() => new TrainingRunner(new TrainingOptions { Dim = 30, Heads = 4, BatchSize = 0, TrainTokens = "" }));
        Assert.Contains("multiple of the number of heads", e.Message);
        Assert.Contains("batch size", e.Message);
        Assert.Contains("no training tokens", e.Message);
    }

    [Fact]
    public void ATokenFileOfAnotherVocabularyIsRefused()
    {
        using var temp = new TempDirectory();
        var options = Options(temp, 1, 1);
        TestCorpus.Write(temp.File("train.bin"), [1, 5, 40, 7]);
        var e = Assert.Throws<InvalidDataException>(() => new TrainingRunner(options).Run(cancellationToken: TestContext.Current.CancellationToken));
        Assert.Contains("token 40", e.Message);
    }
}

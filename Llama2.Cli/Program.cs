using System.Text;
using Llama2.Cli;
using Llama2.Engine;
using Llama2.Engine.Generation;
using Llama2.Engine.Kernels;
using Llama2.Engine.Model;
using Llama2.Engine.Sampling;
using Llama2.Engine.Tokenization;

if (args is ["download", .. var downloadArgs])
{
    using var cancel = new CancellationTokenSource();
    Console.CancelKeyPress += (_, e) => { e.Cancel = true; cancel.Cancel(); };
    return await DownloadCommand.RunAsync(downloadArgs, cancel.Token);
}

var options = RunOptions.Parse(args, out var error);
if (options is null)
{
    Console.Error.WriteLine($"error: {error}");
    Console.Error.WriteLine(RunOptions.Usage);
    return 1;
}
if (options.Mode != "generate")
{
    Console.Error.WriteLine(options.Mode == "chat"
        ? "error: chat mode is not available yet; use -m generate"
        : $"error: unknown mode '{options.Mode}'");
    Console.Error.WriteLine(RunOptions.Usage);
    return 1;
}
if (options.Threads is { } threads) Workers.ThreadCount = threads;

LlamaModel model;
try
{
    model = LlamaModel.Load(options.CheckpointPath, options.TokenizerPath);
}
catch (CheckpointFormatException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}

using (model)
{
    var prompt = model.Tokenizer.Encode(options.Prompt ?? "", bos: true, eos: false);
    int seqLen = model.Config.SeqLen;
    int steps = options.Steps == 0 || options.Steps > seqLen ? seqLen : options.Steps;
    if (prompt.Count > steps)
    {
        Console.Error.WriteLine($"error: the prompt is {prompt.Count} tokens, more than the {steps} steps (-n)");
        return 1;
    }

    var request = new GenerationRequest
    {
        PromptIds = prompt,
        MaxNewTokens = steps - prompt.Count + 1, // run.c's -n counts positions, the prompt's included
        StopAtEos = false, // run.c stops only at BOS
        Sampling = new SamplingOptions { Temperature = options.Temperature, TopP = options.TopP, Seed = (ulong)options.Seed },
    };

    using var stdout = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false)) { AutoFlush = true };
    stdout.Write(model.Tokenizer.DecodeAll(prompt.Skip(1)));

    var sequence = model.StartSequence(request);
    GenerationSummary? summary = null;
    while (sequence.Next() is { } token)
    {
        stdout.Write(token.Text);
        summary = token.Summary ?? summary;
    }
    stdout.Write('\n');
    if (summary is { GeneratedTokens: > 0 })
        Console.Error.WriteLine($"achieved tok/s: {summary.TokensPerSecond:F6}");
}
return 0;

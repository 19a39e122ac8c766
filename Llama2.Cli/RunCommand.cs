using System.CommandLine;
using System.Text;
using Llama2.Engine;
using Llama2.Engine.Formats;
using Llama2.Engine.Generation;
using Llama2.Engine.Kernels;
using Llama2.Engine.Model;
using Llama2.Engine.Progress;
using Llama2.Engine.Sampling;

namespace Llama2.Cli;

/// <summary>
/// The command without a verb, a drop-in for llama2.c's <c>./run</c>:
/// <c>Llama2.Cli model.bin -t 0.8 -p 0.9 -s 42 -n 256 -i "prompt" -z tokenizer.bin -m generate</c>, with run.c's short
/// flags, its defaults and its clamping, a long name for each flag, <c>--threads</c> and <c>--context-shift</c>.
/// <c>-m generate</c> continues the prompt; <c>-m chat</c> is a conversation (<see cref="ChatMode"/>). Without a
/// checkpoint (which run.c requires) it runs the shipped <see cref="DefaultModel"/> with its own tokenizer.
/// </summary>
public static class RunCommand
{
    public static RootCommand Create()
    {
        var defaults = RunOptions.Defaults;
        var checkpoint = new Argument<string?>("checkpoint")
        {
            Description = "a llama2.c checkpoint (.bin: fp32 version 0 or 1, int8 version 2), a GGUF file or a Hugging Face model folder; " +
                $"none: the shipped {DefaultModel.Name}",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var temperature = new Option<float>("--temperature", "-t")
        {
            Description = "temperature in [0,inf]; 0 = greedy (argmax), below 0 counts as 0",
            HelpName = "float",
            DefaultValueFactory = _ => defaults.Temperature,
        }.AcceptNumbers();
        var topP = new Option<float>("--top-p", "-p")
        {
            Description = "p in top-p (nucleus) sampling in [0,1]; outside it, 0.9",
            HelpName = "float",
            DefaultValueFactory = _ => defaults.TopP,
        }.AcceptNumbers();
        var seed = new Option<long>("--seed", "-s")
        {
            Description = "random seed; 0 or less = from the clock (the default)",
            HelpName = "int",
        }.AcceptNumbers();
        var steps = new Option<int>("--steps", "-n")
        {
            Description = "number of steps to run for, the prompt's included; 0 = the model's seq_len, and at most it without --context-shift",
            HelpName = "int",
            DefaultValueFactory = _ => defaults.Steps,
        }.AcceptNumbers();
        var prompt = new Option<string?>("--prompt", "-i") { Description = "input prompt", HelpName = "string" };
        var tokenizer = new Option<string?>("--tokenizer", "-z")
        {
            Description = $"path to the tokenizer; default: {defaults.TokenizerPath}, or the model's own vocabulary for a GGUF file or a " +
                "Hugging Face folder, or the shipped model's own when no checkpoint is named",
            HelpName = "path",
        };
        var mode = new Option<string>("--mode", "-m")
        {
            Description = "generate (continue the prompt) or chat (a conversation, the user's turns from -i and stdin)",
            DefaultValueFactory = _ => defaults.Mode,
        }.AcceptOnlyFromAmong("generate", "chat");
        var systemPrompt = new Option<string?>("--system-prompt", "-y")
        {
            Description = "system prompt in chat mode",
            HelpName = "string",
        };
        var threads = new Option<int?>("--threads")
        {
            Description = "worker threads for the kernels (not in run.c); default: all cores",
            HelpName = "int",
        }.AcceptNumbers(1, Workers.MaxThreads);
        var contextShift = new Option<bool>("--context-shift")
        {
            Description = "go on past the model's context (-n beyond seq_len, a longer prompt or chat), dropping the oldest " +
                "tokens after BOS and the system prompt (not in run.c, which stops there)",
        };
        var quantize = new Option<string>("--quantize")
        {
            Description = "q8_0: quantize float weights (fp32, bf16, fp16) to int8 in memory at load, for speed (not in run.c); none: as stored",
            DefaultValueFactory = _ => "none",
        }.AcceptOnlyFromAmong("none", "q8_0");

        var command = new RootCommand($"""
            Generates text from a llama2.c checkpoint, or chats with it, as llama2.c's ./run does, with the same flags and defaults.
            Without a checkpoint it runs the model this project ships, {DefaultModel.Name} (the King James Bible).
            Example: Llama2.Cli -i "And God said"
                     Llama2.Cli stories15M.bin -z tokenizer.bin -n 256 -i "Once upon a time"
            Chat:    Llama2.Cli llama2_7b_chat.bin -m chat -y "You are a helpful assistant." -n 0
            Longer:  Llama2.Cli stories15M.bin -z tokenizer.bin -n 2000 --context-shift
            """)
        {
            checkpoint, temperature, topP, seed, steps, prompt, tokenizer, mode, systemPrompt, threads, contextShift, quantize,
        };
        command.SetAction((parsed, cancellationToken) => RunAsync(new RunOptions
        {
            CheckpointPath = parsed.GetValue(checkpoint) ?? DefaultModel.CheckpointPath,
            Temperature = parsed.GetValue(temperature),
            TopP = parsed.GetValue(topP),
            Seed = parsed.GetValue(seed),
            Steps = parsed.GetValue(steps),
            Prompt = parsed.GetValue(prompt),
            TokenizerPath = parsed.GetValue(tokenizer) ?? (parsed.GetValue(checkpoint) is not { } named ? DefaultModel.TokenizerPath
                : ExternalModel.Recognizes(named) ? null : defaults.TokenizerPath),
            Mode = parsed.GetRequiredValue(mode),
            SystemPrompt = parsed.GetValue(systemPrompt),
            Threads = parsed.GetValue(threads),
            ContextShift = parsed.GetValue(contextShift),
            Quantization = parsed.GetRequiredValue(quantize) == "q8_0" ? Quantization.Q8_0 : Quantization.None,
        }.WithRunCOverrides(), cancellationToken));
        return command;
    }

    /// <summary>Loads the model and runs the mode, printing text as it comes; Ctrl+C stops it after the current token.</summary>
    static async Task<int> RunAsync(RunOptions options, CancellationToken cancellationToken)
    {
        if (options.Threads is { } threads) Workers.ThreadCount = threads;

        LlamaModel model;
        var bar = ProgressBar.OnStandardError();
        try
        {
            model = LlamaModel.Load(options.CheckpointPath, options.TokenizerPath, options.Quantization,
                bar.ForFraction($"quantizing {Path.GetFileName(options.CheckpointPath)} to q8_0"));
            bar.Complete();
        }
        catch (CheckpointFormatException e)
        {
            bar.Complete();
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }

        using (model)
        {
            int seqLen = model.Config.SeqLen;
            // run.c clamps -n to the context; with a context shift it is the positions to run, however many.
            int steps = options.Steps == 0 || (options.Steps > seqLen && !options.ContextShift) ? seqLen : options.Steps;
            var sampling = new SamplingOptions { Temperature = options.Temperature, TopP = options.TopP, Seed = (ulong)options.Seed };
            using var stdout = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false)) { AutoFlush = true };
            if (options.Mode != "chat")
                return Generate(model, options.Prompt ?? "", sampling, steps, options.ContextShift, stdout, cancellationToken);

            // A terminal's lines come through the console's line editor, in the terminal's encoding; piped ones are UTF-8.
            using var piped = Console.IsInputRedirected ? new StreamReader(Console.OpenStandardInput(), new UTF8Encoding(false)) : null;
            var chat = new ChatMode(model, sampling, steps, options.ContextShift, piped ?? Console.In, stdout);
            return await chat.RunAsync(options.SystemPrompt, options.Prompt, cancellationToken);
        }
    }

    /// <summary>
    /// run.c's generate mode: the prompt, then the tokens that follow it, until BOS or <paramref name="steps"/> positions;
    /// with <paramref name="contextShift"/> those may be more than the context.
    /// </summary>
    static int Generate(LlamaModel model, string text, SamplingOptions sampling, int steps, bool contextShift, TextWriter stdout,
        CancellationToken cancellationToken)
    {
        var prompt = model.Tokenizer.Encode(text, bos: true, eos: false);
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
            Sampling = sampling,
            ContextShift = contextShift ? new ContextShift() : null,
        };
        stdout.Write(model.Tokenizer.DecodeAll(prompt.Skip(1)));

        var sequence = model.StartSequence(request);
        GenerationSummary? summary = null;
        while (!cancellationToken.IsCancellationRequested && sequence.Next() is { } token)
        {
            stdout.Write(token.Text);
            summary = token.Summary ?? summary;
        }
        stdout.Write('\n');
        if (cancellationToken.IsCancellationRequested) return Cancelled;
        if (summary is not null) ReportShifts(summary.ContextShifts, summary.DiscardedTokens);
        if (summary is { GeneratedTokens: > 0 }) ReportSpeed(summary.GeneratedTokens, summary.TotalTime);
        return 0;
    }

    /// <summary>The exit code after Ctrl+C: 128 + SIGINT, as a shell reports it.</summary>
    internal const int Cancelled = 130;

    /// <summary>On stderr, when the context shifted: how often, and how many of the oldest tokens it dropped.</summary>
    internal static void ReportShifts(int shifts, int discarded)
    {
        if (shifts > 0) Console.Error.WriteLine($"context shifted {shifts} times ({discarded} of the oldest tokens dropped)");
    }

    /// <summary>run.c's closing line, on stderr: tokens generated per second of generation.</summary>
    internal static void ReportSpeed(int tokens, TimeSpan time)
    {
        if (tokens > 0 && time > TimeSpan.Zero) Console.Error.WriteLine($"achieved tok/s: {tokens / time.TotalSeconds:F6}");
    }
}

namespace Llama2.Engine;

/// <summary>
/// The model this project trains itself and ships, so that the server and the CLI run with no model named and no
/// network: kjv-3.5M, a 3.5M-parameter Llama 2 trained on the King James Bible, with its 2048-token tokenizer (how it
/// was made: docs/training.md). The files live in the engine's DefaultModel folder and are copied beside every program
/// that references the engine, so they are found next to the running assembly; the checkpoint is memory-mapped from
/// there like any other.
/// </summary>
public static class DefaultModel
{
    /// <summary>The model's id: its checkpoint's file name without the extension.</summary>
    public const string Name = "kjv-3.5M";

    /// <summary>The folder holding the files, beside the running program.</summary>
    public static string Folder => Path.Combine(AppContext.BaseDirectory, "DefaultModel");

    /// <summary>The llama2.c checkpoint (version 0, fp32: run.c reads it too).</summary>
    public static string CheckpointPath => Path.Combine(Folder, Name + ".bin");

    /// <summary>Its tokenizer.bin.</summary>
    public static string TokenizerPath => Path.Combine(Folder, "tok2048.bin");

    /// <summary>Loads it; missing files throw <see cref="Model.CheckpointFormatException"/>, naming the file.</summary>
    public static LlamaModel Load() => LlamaModel.Load(CheckpointPath, TokenizerPath);
}

namespace Llama2.Server.OpenAI;

/// <summary>GET /v1/models: the models served (one).</summary>
/// <param name="Object">list</param>
/// <param name="Data">The served model.</param>
public sealed record ModelList(string Object, IReadOnlyList<ModelCard> Data);

/// <summary>A served model.</summary>
/// <param name="Id">The checkpoint's file name without extension.</param>
/// <param name="Object">model</param>
/// <param name="Created">When the checkpoint file was last written (Unix time, seconds).</param>
/// <param name="OwnedBy">llama2-dotnet</param>
public sealed record ModelCard(string Id, string Object, long Created, string OwnedBy);

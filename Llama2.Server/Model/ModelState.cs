namespace Llama2.Server.Model;

/// <summary>Where the served model is in its life.</summary>
public enum ModelState
{
    /// <summary>Fetching missing model files (first run).</summary>
    Downloading,
    Loading,
    Ready,
    Failed,
}

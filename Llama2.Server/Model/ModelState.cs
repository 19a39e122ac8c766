namespace Llama2.Server.Model;

/// <summary>Where the served model is in its life.</summary>
public enum ModelState
{
    Loading,
    Ready,
    Failed,
}

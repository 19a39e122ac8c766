using Llama2.Engine;
using Llama2.Engine.Scheduling;

namespace Llama2.Server.Model;

/// <summary>The model once loaded, and the scheduler that owns it; endpoints only ever see both together.</summary>
public sealed record LoadedModel(LlamaModel Model, GenerationScheduler Scheduler, string ModelId);

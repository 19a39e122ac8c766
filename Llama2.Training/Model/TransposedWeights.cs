using Llama2.Training.Diagnostics;
using Llama2.Engine.Kernels;
using Llama2.Engine.Model;
using Llama2.Training.Kernels;

namespace Llama2.Training.Model;

/// <summary>
/// Wᵀ of every weight matrix (the embedding too, for the tied classifier), the B operand of the forward products
/// (see <see cref="Layers.Linear.Forward"/>). Refreshed from the parameters after each optimiser step: a transpose of
/// every weight once per step, against the batch's thousands of tokens through each.
/// </summary>
internal sealed unsafe class TransposedWeights
{
    readonly ParameterLayout _layout;
    readonly float[] _buffer;

    public TransposedWeights(ParameterLayout layout)
    {
        _layout = layout;
        _buffer = GC.AllocateArray<float>(checked((int)(layout.Count - layout.DecayStart)), pinned: true);
    }

    /// <summary>Wᵀ (cols × rows) of one layer's matrix.</summary>
    public ReadOnlySpan<float> View(TensorKind tensor, int layer = 0)
    {
        int size = _layout.LayerSize(tensor);
        return _buffer.AsSpan(checked((int)(_layout.Offset(tensor) - _layout.DecayStart + (long)layer * size)), size);
    }

    /// <summary>Transposes every matrix of <paramref name="parameters"/>, one matrix per unit of work.</summary>
    public void Refresh(ReadOnlySpan<float> parameters)
    {
        using var timing = OperationTimes.Measure(Operation.TransposeWeights);
        if (parameters.Length < _layout.Count) throw new ArgumentException("parameter buffer too short", nameof(parameters));
        fixed (float* p = parameters, t = _buffer)
        {
            var job = new Job(_layout, p, t);
            Workers.For(job.Count, ref job);
        }
    }

    readonly struct Job(ParameterLayout layout, float* parameters, float* transposed) : IRowJob
    {
        // The embedding, then each layer's seven matrices.
        public int Count => 1 + 7 * layout.Config.NLayers;
        public long CostPerRow => (long)layout.Config.Dim * layout.Config.HiddenDim;

        public void Run(int start, int end)
        {
            for (int i = start; i < end; i++)
            {
                var tensor = i == 0 ? TensorKind.TokenEmbedding : ParameterLayout.Matrices[1 + (i - 1) % 7];
                int layer = i == 0 ? 0 : (i - 1) / 7;
                var (rows, cols) = layout.MatrixShape(tensor);
                long offset = layout.Offset(tensor) + (long)layer * layout.LayerSize(tensor);
                Transpose.Run(parameters + offset, rows, cols, cols, transposed + offset - layout.DecayStart, rows);
            }
        }
    }
}

using System.Runtime.InteropServices;
using Llama2.Engine.Formats;
using Llama2.Engine.Kernels;

namespace Llama2.Engine.Model;

/// <summary>
/// The <see cref="TransformerWeights"/> of a Hugging Face folder or a GGUF file, over its mapped tensors: fp32, bf16 and
/// fp16 matrices are used where they lie in the mapping (the kernels widen 16-bit weights as they load them); Wq and Wk
/// keep their stored row order (<see cref="TransformerWeights.QueryKeyLayout"/>), which the forward pass undoes on
/// their outputs. Two things are made at load, in memory this object owns: norms stored in 16 bits, widened to fp32
/// (dim floats each), and GGUF's Q8_0 matrices, repacked from ggml's blocks (an fp16 scale then 32 int8 values) into
/// llama2.c's int8 layout (a row's values, then its fp32 scales), group size 32, the same values and scales.
/// </summary>
internal sealed unsafe class ExternalWeights : IDisposable
{
    const int Q8BlockElements = 32, Q8BlockBytes = 34;

    readonly List<nint> _blocks = [];

    ExternalWeights(ExternalModel model)
    {
        try
        {
            Weights = Build(model);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    TransformerWeights Build(ExternalModel model)
    {
        var made = new Dictionary<(string File, long Offset), WeightMatrix>();
        return new TransformerWeights(model.Config with { RmsNormEps = model.RmsNormEps, RopeTheta = model.RopeTheta },
            model.QueryKeyLayout,
            (kind, layer) =>
            {
                var t = model.Tensor(kind, layer);
                if (made.TryGetValue((t.FilePath, t.FileOffset), out var matrix)) return matrix; // a shared classifier
                int rows = checked((int)t.Rows), columns = checked((int)t.Columns);
                matrix = t.Type switch
                {
                    TensorType.F32 => WeightMatrix.F32((float*)t.Data, rows, columns),
                    TensorType.BF16 => WeightMatrix.BF16((ushort*)t.Data, rows, columns),
                    TensorType.F16 => WeightMatrix.F16((ushort*)t.Data, rows, columns),
                    TensorType.Q8_0 => Repack(t, rows, columns),
                    _ => throw new CheckpointFormatException(t.FilePath, $"tensor {t.Name} is {t.Type}, which the engine cannot compute with"),
                };
                return made[(t.FilePath, t.FileOffset)] = matrix;
            },
            (kind, layer) =>
            {
                var t = model.Tensor(kind, layer);
                if (t.Type == TensorType.F32) return (nint)t.Data;
                var floats = (float*)Allocate(t.ElementCount * sizeof(float));
                t.ReadFloats(0, new Span<float>(floats, checked((int)t.ElementCount)));
                return (nint)floats;
            });
    }

    public TransformerWeights Weights { get; }

    /// <summary>Bytes of Q8_0 matrices repacked at load (0 when there are none).</summary>
    public long RepackedBytes { get; private set; }

    /// <summary>The weights of <paramref name="model"/>, valid while both it and the result are not disposed.</summary>
    public static ExternalWeights Of(ExternalModel model) => new(model);

    /// <summary>ggml's Q8_0 blocks into llama2.c's int8 layout: all the values, then all the fp32 scales.</summary>
    WeightMatrix Repack(MappedTensor t, int rows, int columns)
    {
        long count = (long)rows * columns, blocks = count / Q8BlockElements;
        var values = (sbyte*)Allocate(count);
        var scales = (float*)Allocate(blocks * sizeof(float));
        byte* source = t.Data;
        for (long b = 0; b < blocks; b++, source += Q8BlockBytes)
        {
            scales[b] = (float)BitConverter.UInt16BitsToHalf((ushort)(source[0] | source[1] << 8));
            new ReadOnlySpan<byte>(source + 2, Q8BlockElements).CopyTo(new Span<byte>(values + b * Q8BlockElements, Q8BlockElements));
        }
        RepackedBytes += count + blocks * sizeof(float);
        return WeightMatrix.Q8_0(values, scales, rows, columns, Q8BlockElements);
    }

    void* Allocate(long bytes)
    {
        // A large block 2 MiB-aligned and in 2 MiB pages where the system gives them: decoding streams it every token.
        const int HugePage = 2 << 20;
        bool large = bytes >= HugePage;
        var block = (byte*)NativeMemory.AlignedAlloc((nuint)Math.Max(1, bytes), large ? HugePage : 64u);
        _blocks.Add((nint)block);
        if (large) PageCache.PreferHugePages(block, bytes);
        return block;
    }

    public void Dispose()
    {
        foreach (var block in _blocks) NativeMemory.AlignedFree((void*)block);
        _blocks.Clear();
    }
}

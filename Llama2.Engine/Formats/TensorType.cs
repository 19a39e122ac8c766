namespace Llama2.Engine.Formats;

/// <summary>How the elements of a tensor are stored.</summary>
public enum TensorType
{
    /// <summary>IEEE 754 single precision.</summary>
    F32,
    /// <summary>IEEE 754 half precision.</summary>
    F16,
    /// <summary>bfloat16: the upper 16 bits of a single-precision float.</summary>
    BF16,
    /// <summary>ggml's Q8_0: blocks of 32 elements, each an fp16 scale then 32 signed bytes; an element is byte × scale.</summary>
    Q8_0,
}

public static class TensorTypes
{
    /// <summary>Elements in one block: 32 for Q8_0, 1 for the float types.</summary>
    public static int BlockElements(this TensorType type) => type == TensorType.Q8_0 ? 32 : 1;

    /// <summary>Bytes of one block.</summary>
    public static int BlockBytes(this TensorType type) => type switch
    {
        TensorType.F32 => 4,
        TensorType.F16 or TensorType.BF16 => 2,
        TensorType.Q8_0 => 2 + 32,
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    /// <summary>Bytes that <paramref name="elements"/> elements take; null when they do not fill whole blocks.</summary>
    public static long? ByteCount(this TensorType type, long elements) =>
        elements % type.BlockElements() == 0 ? elements / type.BlockElements() * type.BlockBytes() : null;
}

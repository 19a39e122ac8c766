using System.Runtime.Intrinsics;

namespace Llama2.Engine.Kernels;

/// <summary>How a weight matrix is stored. Each format has its own matmul kernels behind <see cref="MatMul"/>.</summary>
public enum WeightFormat
{
    /// <summary>One float per weight (llama2.c's versions 0 and 1).</summary>
    F32,
    /// <summary>bfloat16 (Hugging Face's Llama 2 files, GGUF): widened to fp32 as the kernels load it.</summary>
    BF16,
    /// <summary>IEEE half precision (Hugging Face, GGUF F16): widened to fp32 as the kernels load it.</summary>
    F16,
    /// <summary>
    /// llama2.c's int8 (version 2, runq.c): each weight an int8 value, each group of <see cref="WeightMatrix.GroupSize"/>
    /// consecutive weights of a row one fp32 scale; weight = value × scale.
    /// </summary>
    Q8_0,
}

/// <summary>
/// A row-major weight matrix (rows × columns, out × in, as llama2.c stores them) in one of the <see cref="WeightFormat"/>s,
/// wherever it lives (a mapped checkpoint, memory quantized at load, a test's pinned array). It holds pointers: the
/// memory must stay where it is while the matrix is used.
/// </summary>
public readonly unsafe struct WeightMatrix
{
    readonly void* _values;
    readonly float* _scales;

    WeightMatrix(WeightFormat format, void* values, float* scales, int rows, int columns, int groupSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(columns);
        Format = format;
        _values = values;
        _scales = scales;
        Rows = rows;
        Columns = columns;
        GroupSize = groupSize;
    }

    /// <summary>An fp32 matrix: rows × columns floats.</summary>
    public static WeightMatrix F32(float* weights, int rows, int columns) =>
        new(WeightFormat.F32, weights, null, rows, columns, 0);

    /// <summary>A bfloat16 matrix: rows × columns 16-bit values, each the upper half of an fp32 value.</summary>
    public static WeightMatrix BF16(ushort* weights, int rows, int columns) =>
        new(WeightFormat.BF16, weights, null, rows, columns, 0);

    /// <summary>An fp16 matrix: rows × columns IEEE half-precision values.</summary>
    public static WeightMatrix F16(ushort* weights, int rows, int columns) =>
        new(WeightFormat.F16, weights, null, rows, columns, 0);

    /// <summary>
    /// A Q8_0 matrix: rows × columns int8 values and rows × columns / groupSize scales, group after group along each
    /// row (groupSize must divide columns).
    /// </summary>
    public static WeightMatrix Q8_0(sbyte* values, float* scales, int rows, int columns, int groupSize)
    {
        if (groupSize <= 0 || columns % groupSize != 0)
            throw new ArgumentException($"group size {groupSize} does not divide the {columns} columns", nameof(groupSize));
        return new(WeightFormat.Q8_0, values, scales, rows, columns, groupSize);
    }

    public WeightFormat Format { get; }
    public int Rows { get; }
    public int Columns { get; }
    /// <summary>Weights per scale (Q8_0); 0 for the float formats.</summary>
    public int GroupSize { get; }
    /// <summary>Scales per row (Q8_0).</summary>
    public int GroupsPerRow => Columns / GroupSize;

    /// <summary>Bytes a pass over the whole matrix reads.</summary>
    public long Bytes => Format switch
    {
        WeightFormat.F32 => (long)Rows * Columns * sizeof(float),
        WeightFormat.BF16 or WeightFormat.F16 => (long)Rows * Columns * sizeof(ushort),
        _ => (long)Rows * Columns + (long)Rows * GroupsPerRow * sizeof(float),
    };

    /// <summary>Whether the weights are floats of some width (fp32, bf16, fp16), computed on by the same fp32 kernels.</summary>
    public bool IsFloat => Format is WeightFormat.F32 or WeightFormat.BF16 or WeightFormat.F16;

    internal float* F32Pointer => Format == WeightFormat.F32 ? (float*)_values : throw NotA(WeightFormat.F32);
    internal ushort* Bits16Pointer => Format is WeightFormat.BF16 or WeightFormat.F16 ? (ushort*)_values : throw NotA(WeightFormat.BF16);

    /// <summary>The weights as <typeparamref name="TW"/>, which must be this matrix's format (null for none).</summary>
    internal TW* Elements<TW>() where TW : unmanaged, IWeightElement<TW>
    {
        var expected = typeof(TW) == typeof(Fp32Weight) ? WeightFormat.F32 : typeof(TW) == typeof(BFloat16Weight) ? WeightFormat.BF16 : WeightFormat.F16;
        return Format == expected ? (TW*)_values : throw NotA(expected);
    }
    internal sbyte* Q8Values => Format == WeightFormat.Q8_0 ? (sbyte*)_values : throw NotA(WeightFormat.Q8_0);
    internal float* Q8Scales => Format == WeightFormat.Q8_0 ? _scales : throw NotA(WeightFormat.Q8_0);

    /// <summary>The weights of an fp32 matrix.</summary>
    public ReadOnlySpan<float> Floats => new(F32Pointer, checked(Rows * Columns));
    /// <summary>The 16-bit values of a bf16 or fp16 matrix.</summary>
    public ReadOnlySpan<ushort> Bits16 => new(Bits16Pointer, checked(Rows * Columns));
    /// <summary>The int8 values of a Q8_0 matrix.</summary>
    public ReadOnlySpan<sbyte> Values => new(Q8Values, checked(Rows * Columns));
    /// <summary>The scales of a Q8_0 matrix, GroupsPerRow per row.</summary>
    public ReadOnlySpan<float> Scales => new(Q8Scales, checked(Rows * GroupsPerRow));

    /// <summary>Row <paramref name="row"/> in fp32 (16-bit values widened; a Q8_0 row dequantized, value × scale, as runq.c does).</summary>
    public void ReadRow(int row, Span<float> destination)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)row, (uint)Rows, nameof(row));
        if (destination.Length < Columns) throw new ArgumentException("destination shorter than a row", nameof(destination));
        switch (Format)
        {
            case WeightFormat.F32:
                new ReadOnlySpan<float>(F32Pointer + (long)row * Columns, Columns).CopyTo(destination);
                return;
            case WeightFormat.BF16:
                Widen((BFloat16Weight*)_values + (long)row * Columns, destination);
                return;
            case WeightFormat.F16:
                Widen((HalfWeight*)_values + (long)row * Columns, destination);
                return;
        }
        sbyte* q = Q8Values + (long)row * Columns;
        float* s = Q8Scales + (long)row * GroupsPerRow;
        for (int i = 0; i < Columns; i++) destination[i] = q[i] * s[i / GroupSize];
    }

    void Widen<TW>(TW* row, Span<float> destination) where TW : unmanaged, IWeightElement<TW>
    {
        int i = 0;
        fixed (float* d = destination)
        {
            if (Vector256.IsHardwareAccelerated)
                for (; i <= Columns - 8; i += 8) TW.Load<Vector256<float>, Ops256>(row + i).Store(d + i);
            for (; i < Columns; i++) d[i] = TW.ToSingle(row[i]);
        }
    }

    static InvalidOperationException NotA(WeightFormat format) => new($"not a {format} matrix");
}

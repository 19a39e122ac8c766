namespace Llama2.Engine.Formats;

/// <summary>
/// How the rows of the query and key matrices are ordered within each head, which decides the pairs that rotary
/// embeddings rotate together.
/// </summary>
public enum RotaryLayout
{
    /// <summary>
    /// Meta's order, which llama2.c's .bin and GGUF keep: rows 2i and 2i+1 of a head form pair i.
    /// </summary>
    Interleaved,

    /// <summary>
    /// Hugging Face's order (its conversion script permutes Meta's rows so that its rotate_half works): row i and row
    /// i + head_size/2 of a head form pair i.
    /// </summary>
    HalfSplit,
}

public static class RotaryLayouts
{
    /// <summary>
    /// The row of a matrix stored in <paramref name="layout"/> that holds row <paramref name="interleavedRow"/> of the
    /// same matrix in Meta's interleaved order. Undoing Hugging Face's permutation (llama2.c's export.py
    /// <c>permute_reverse</c>, llama.cpp's <c>permute</c>): within a head, interleaved row 2i+j is half-split row
    /// j·head_size/2 + i.
    /// </summary>
    public static long SourceRow(this RotaryLayout layout, long interleavedRow, int headSize)
    {
        if (layout == RotaryLayout.Interleaved) return interleavedRow;
        long head = interleavedRow / headSize;
        int within = (int)(interleavedRow % headSize);
        return head * headSize + within % 2 * (headSize / 2) + within / 2;
    }
}

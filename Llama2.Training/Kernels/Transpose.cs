namespace Llama2.Training.Kernels;

/// <summary>Matrix transposes, for the products that need Bᵀ as a row-major B (see <see cref="Gemm"/>).</summary>
internal static unsafe class Transpose
{
    const int Block = 16;

    /// <summary>dst (cols × rows, rows dstRow apart) = srcᵀ, src being rows × cols (rows srcRow apart); in blocks of 16 × 16.</summary>
    public static void Run(float* src, int rows, int cols, long srcRow, float* dst, long dstRow)
    {
        for (int i0 = 0; i0 < rows; i0 += Block)
        {
            int i1 = Math.Min(rows, i0 + Block);
            for (int j0 = 0; j0 < cols; j0 += Block)
            {
                int j1 = Math.Min(cols, j0 + Block);
                for (int j = j0; j < j1; j++)
                {
                    float* d = dst + j * dstRow;
                    for (int i = i0; i < i1; i++) d[i] = src[i * srcRow + j];
                }
            }
        }
    }
}

using Llama2.Engine.Formats;

namespace Llama2.Engine.Tests.Formats;

/// <summary>
/// Hugging Face's query/key row order, and the reader's undoing of it. The tests' writer permutes as transformers'
/// convert_llama_weights_to_hf.py does; these check that this order is the one whose rotate_half rotary embedding
/// computes what Meta's interleaved one computes, and that the reader maps it back row for row.
/// </summary>
public sealed class RotaryLayoutTests
{
    const int HeadSize = 8, Heads = 3, Columns = 5;

    static float[] Matrix()
    {
        var random = new Random(17);
        return Enumerable.Range(0, Heads * HeadSize * Columns).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
    }

    [Fact]
    public void Source_row_undoes_the_hugging_face_permutation()
    {
        var meta = Matrix();
        var huggingFace = ForeignModels.PermuteForHuggingFace(meta, Heads, Columns);
        Assert.NotEqual(meta, huggingFace);
        for (int row = 0; row < Heads * HeadSize; row++)
        {
            long source = RotaryLayout.HalfSplit.SourceRow(row, HeadSize);
            Assert.Equal(meta.AsSpan(row * Columns, Columns).ToArray(), huggingFace.AsSpan((int)source * Columns, Columns).ToArray());
            Assert.Equal(row, RotaryLayout.Interleaved.SourceRow(row, HeadSize));
        }
    }

    [Fact]
    public void Hugging_Face_rows_with_rotate_half_give_the_rotated_query_of_meta_rows_with_interleaved_pairs()
    {
        var meta = Matrix();
        var huggingFace = ForeignModels.PermuteForHuggingFace(meta, Heads, Columns);
        var x = new[] { 0.3f, -1.2f, 0.7f, 2.0f, -0.4f };
        const int Position = 9;
        int half = HeadSize / 2;
        for (int h = 0; h < Heads; h++)
        {
            var q = Product(meta, x, h);
            var p = Product(huggingFace, x, h);
            // Meta (run.c): pair i is (2i, 2i+1), rotated by position × θ^(−2i/head_size).
            var rotatedMeta = new float[HeadSize];
            for (int i = 0; i < half; i++)
            {
                float angle = Position * MathF.Pow(10000f, -2f * i / HeadSize), cos = MathF.Cos(angle), sin = MathF.Sin(angle);
                rotatedMeta[2 * i] = q[2 * i] * cos - q[2 * i + 1] * sin;
                rotatedMeta[2 * i + 1] = q[2 * i] * sin + q[2 * i + 1] * cos;
            }
            // transformers' apply_rotary_pos_emb: q·cos + rotate_half(q)·sin, rotate_half(q) = (−q[half:], q[:half]),
            // cos and sin of element i and i + half both at frequency i.
            var rotatedHf = new float[HeadSize];
            for (int e = 0; e < HeadSize; e++)
            {
                int i = e % half;
                float angle = Position * MathF.Pow(10000f, -2f * i / HeadSize), cos = MathF.Cos(angle), sin = MathF.Sin(angle);
                float rotateHalf = e < half ? -p[e + half] : p[e - half];
                rotatedHf[e] = p[e] * cos + rotateHalf * sin;
            }
            // The same values, element 2i + j of Meta's at j·half + i of Hugging Face's: equal dot products q·k.
            for (int i = 0; i < half; i++)
                for (int j = 0; j < 2; j++)
                    Assert.Equal(rotatedMeta[2 * i + j], rotatedHf[j * half + i], 6);
        }
    }

    static float[] Product(float[] w, float[] x, int head)
    {
        var y = new float[HeadSize];
        for (int r = 0; r < HeadSize; r++)
            for (int c = 0; c < Columns; c++) y[r] += w[(head * HeadSize + r) * Columns + c] * x[c];
        return y;
    }
}

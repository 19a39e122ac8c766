using System.Buffers.Binary;

namespace Llama2.Engine.Model;

/// <summary>Reads, checks and writes the header of a llama2.c checkpoint (legacy version 0, version 1 or the int8 version 2).</summary>
public static class CheckpointHeader
{
    // Far beyond any Llama 2 (70B has dim 8192, 80 layers, hidden 28672), small enough to catch garbage.
    const int MaxDim = 1 << 16, MaxHidden = 1 << 18, MaxLayers = 1 << 10, MaxVocab = 1 << 20, MaxSeqLen = 1 << 20;

    // Versions 1 and 2: the magic, the version, the seven config ints, then these (version 2's group size unaligned,
    // as export.py packs it).
    const int SharedClassifierOffset = 8 + 7 * sizeof(int), GroupSizeOffset = SharedClassifierOffset + 1;

    /// <summary>Parses the header at the start of <paramref name="bytes"/> and returns the layout it implies.</summary>
    public static CheckpointLayout Parse(ReadOnlySpan<byte> bytes, string path)
    {
        if (bytes.Length < CheckpointLayout.Version0HeaderBytes)
            throw new CheckpointFormatException(path,
                $"file is {bytes.Length} bytes, too short for a checkpoint header ({CheckpointLayout.Version0HeaderBytes} bytes)");

        if (BinaryPrimitives.ReadUInt32LittleEndian(bytes) == CheckpointLayout.Version1Magic)
        {
            if (bytes.Length < CheckpointLayout.Version1HeaderBytes)
                throw new CheckpointFormatException(path,
                    $"file is {bytes.Length} bytes, too short for a version 1 header ({CheckpointLayout.Version1HeaderBytes} bytes)");
            int version = BinaryPrimitives.ReadInt32LittleEndian(bytes[4..]);
            if (version is not (1 or 2))
                throw new CheckpointFormatException(path,
                    $"unsupported checkpoint version {version} (this engine reads legacy version 0, fp32 version 1 and int8 version 2)");
            var ints = ReadInts(bytes[8..]);
            bool shared = bytes[SharedClassifierOffset] != 0;
            var config = Validate(ints, ints[5], shared, path);
            if (version == 1) return new CheckpointLayout(config, 1);

            int groupSize = BinaryPrimitives.ReadInt32LittleEndian(bytes[GroupSizeOffset..]);
            if (CheckpointLayout.GroupSizeProblem(config, groupSize) is { } problem)
                throw new CheckpointFormatException(path,
                    $"{problem}: every row of a version 2 checkpoint must be a whole number of groups " +
                    "(quantize the fp32 checkpoint again with Llama2.Cli quantize)");
            return new CheckpointLayout(config, 2, groupSize);
        }

        var header = ReadInts(bytes);
        // Legacy files signal an unshared classifier by a negative vocabulary size.
        int vocab = header[5];
        return new CheckpointLayout(Validate(header, vocab == int.MinValue ? 0 : Math.Abs(vocab), vocab > 0, path), 0);
    }

    static int[] ReadInts(ReadOnlySpan<byte> bytes)
    {
        var ints = new int[7];
        for (int i = 0; i < 7; i++) ints[i] = BinaryPrimitives.ReadInt32LittleEndian(bytes[(i * 4)..]);
        return ints;
    }

    static ModelConfig Validate(int[] h, int vocab, bool shared, string path)
    {
        int dim = h[0], hidden = h[1], layers = h[2], heads = h[3], kvHeads = h[4], seqLen = h[6];
        Check(dim, MaxDim, "dim");
        Check(hidden, MaxHidden, "hidden_dim");
        Check(layers, MaxLayers, "n_layers");
        Check(heads, dim, "n_heads");
        Check(kvHeads, heads, "n_kv_heads");
        Check(vocab, MaxVocab, "vocab_size");
        Check(seqLen, MaxSeqLen, "seq_len");
        if (dim % heads != 0)
            throw new CheckpointFormatException(path, $"dim {dim} is not divisible by n_heads {heads}");
        if (heads % kvHeads != 0)
            throw new CheckpointFormatException(path, $"n_heads {heads} is not divisible by n_kv_heads {kvHeads}");
        if (dim / heads % 2 != 0)
            throw new CheckpointFormatException(path, $"head size {dim / heads} is odd; rotary embeddings need pairs");
        return new ModelConfig(dim, hidden, layers, heads, kvHeads, vocab, seqLen, shared);

        void Check(int value, int max, string name)
        {
            if (value <= 0 || value > max)
                throw new CheckpointFormatException(path,
                    $"header field {name} = {value} is out of range (1..{max}); this is not a llama2.c checkpoint or it is corrupt");
        }
    }

    /// <summary>The header bytes for <paramref name="layout"/>, exactly as llama2.c's export.py writes them.</summary>
    public static byte[] Write(CheckpointLayout layout)
    {
        var c = layout.Config;
        var bytes = new byte[layout.HeaderBytes];
        var span = bytes.AsSpan();
        int start = 0;
        if (layout.Version != 0)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(span, CheckpointLayout.Version1Magic);
            BinaryPrimitives.WriteInt32LittleEndian(span[4..], layout.Version);
            start = 8;
        }
        int vocab = layout.Version == 0 && !c.SharedClassifier ? -c.VocabSize : c.VocabSize;
        int[] ints = [c.Dim, c.HiddenDim, c.NLayers, c.NHeads, c.NKvHeads, vocab, c.SeqLen];
        for (int i = 0; i < ints.Length; i++) BinaryPrimitives.WriteInt32LittleEndian(span[(start + i * 4)..], ints[i]);
        if (layout.Version != 0) span[SharedClassifierOffset] = c.SharedClassifier ? (byte)1 : (byte)0;
        if (layout.Version == 2) BinaryPrimitives.WriteInt32LittleEndian(span[GroupSizeOffset..], layout.GroupSize);
        return bytes;
    }
}

using System.Text;

namespace Llama2.Engine.Tests.Formats;

/// <summary>
/// Writes GGUF version 3 files following ggml's docs/gguf.md (for the tests): magic, version, tensor and metadata
/// counts, the metadata key/values, the tensor infos (ggml dimensions innermost first), padding to the alignment, then
/// each tensor's bytes at an aligned offset.
/// </summary>
public sealed class GgufWriter
{
    public const uint F32 = 0, F16 = 1, Q8_0 = 8, BF16 = 30;

    readonly List<(string Key, Action<BinaryWriter> WriteTypeAndValue)> _metadata = [];
    readonly List<(string Name, long[] RowMajorShape, uint Type, byte[] Bytes)> _tensors = [];

    public uint Version { get; init; } = 3;
    public int Alignment { get; init; } = 32;

    public GgufWriter String(string key, string value) => Add(key, w => { w.Write(8u); WriteString(w, value); });
    public GgufWriter UInt32(string key, uint value) => Add(key, w => { w.Write(4u); w.Write(value); });
    public GgufWriter Float32(string key, float value) => Add(key, w => { w.Write(6u); w.Write(value); });
    public GgufWriter Bool(string key, bool value) => Add(key, w => { w.Write(7u); w.Write(value ? (byte)1 : (byte)0); });

    public GgufWriter Strings(string key, IReadOnlyList<string> values) => Add(key, w =>
    {
        w.Write(9u);
        w.Write(8u);
        w.Write((ulong)values.Count);
        foreach (var v in values) WriteString(w, v);
    });

    public GgufWriter Floats(string key, IReadOnlyList<float> values) => Add(key, w =>
    {
        w.Write(9u);
        w.Write(6u);
        w.Write((ulong)values.Count);
        foreach (var v in values) w.Write(v);
    });

    public GgufWriter Ints(string key, IReadOnlyList<int> values) => Add(key, w =>
    {
        w.Write(9u);
        w.Write(5u);
        w.Write((ulong)values.Count);
        foreach (var v in values) w.Write(v);
    });

    /// <summary>A key with raw bytes after it (a type and value of the test's choosing).</summary>
    public GgufWriter Raw(string key, byte[] typeAndValue) => Add(key, w => w.Write(typeAndValue));

    GgufWriter Add(string key, Action<BinaryWriter> write)
    {
        _metadata.Add((key, write));
        return this;
    }

    /// <summary>A tensor given row-major (outermost dimension first); its GGUF dimensions are written reversed.</summary>
    public GgufWriter Tensor(string name, long[] rowMajorShape, uint type, byte[] bytes)
    {
        _tensors.Add((name, rowMajorShape, type, bytes));
        return this;
    }

    public GgufWriter RemoveKey(string key)
    {
        _metadata.RemoveAll(m => m.Key == key);
        return this;
    }

    public GgufWriter RemoveTensor(string name)
    {
        _tensors.RemoveAll(t => t.Name == name);
        return this;
    }

    /// <summary>Gives a tensor another type number, its bytes kept.</summary>
    public GgufWriter RetypeTensor(string name, uint type)
    {
        int i = _tensors.FindIndex(t => t.Name == name);
        _tensors[i] = _tensors[i] with { Type = type };
        return this;
    }

    static void WriteString(BinaryWriter w, string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    long Align(long offset) => (offset + Alignment - 1) / Alignment * Alignment;

    public void Write(string path)
    {
        using var w = new BinaryWriter(File.Create(path));
        w.Write("GGUF"u8);
        w.Write(Version);
        w.Write((ulong)_tensors.Count);
        w.Write((ulong)_metadata.Count);
        foreach (var (key, write) in _metadata)
        {
            WriteString(w, key);
            write(w);
        }
        long offset = 0;
        foreach (var (name, shape, type, bytes) in _tensors)
        {
            WriteString(w, name);
            w.Write((uint)shape.Length);
            foreach (long d in shape.Reverse()) w.Write((ulong)d);
            w.Write(type);
            w.Write((ulong)offset);
            offset = Align(offset + bytes.Length);
        }
        Pad(w);
        foreach (var (_, _, _, bytes) in _tensors)
        {
            w.Write(bytes);
            Pad(w);
        }
    }

    void Pad(BinaryWriter w)
    {
        w.Flush();
        long position = w.BaseStream.Position;
        for (long i = position; i < Align(position); i++) w.Write((byte)0);
    }
}

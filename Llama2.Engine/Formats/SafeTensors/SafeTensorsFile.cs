using System.Buffers.Binary;
using System.Text.Json;
using Llama2.Engine.Model;

namespace Llama2.Engine.Formats.SafeTensors;

/// <summary>
/// A <c>.safetensors</c> file, memory-mapped: an 8-byte little-endian header length N, N bytes of JSON naming each
/// tensor's dtype, shape and <c>data_offsets</c> [begin, end) (relative to the end of the header), an optional
/// <c>__metadata__</c> map of strings, then the tensors' bytes. The header is checked when the file is opened (every
/// tensor lies within the file and has as many bytes as its shape needs); a tensor's dtype is checked when it is asked for.
/// </summary>
public sealed class SafeTensorsFile : IDisposable
{
    /// <summary>The format's own limit on the header (100 MB), which keeps a corrupt length from allocating gigabytes.</summary>
    const long MaxHeaderBytes = 100_000_000;

    readonly MappedFile _file;
    readonly Dictionary<string, Entry> _entries;

    sealed record Entry(string DType, long[] Shape, long Begin, long End);

    SafeTensorsFile(MappedFile file, Dictionary<string, Entry> entries, IReadOnlyDictionary<string, string> metadata, long dataStart)
    {
        _file = file;
        _entries = entries;
        Metadata = metadata;
        DataStart = dataStart;
    }

    public string Path => _file.Path;
    /// <summary>The header's <c>__metadata__</c> (e.g. format: pt).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }
    /// <summary>Where the tensors' bytes begin: 8 + the header length.</summary>
    public long DataStart { get; }
    public IEnumerable<string> TensorNames => _entries.Keys;
    public bool Contains(string name) => _entries.ContainsKey(name);

    /// <summary>The dtypes this reader maps, by their safetensors names.</summary>
    public static IReadOnlyDictionary<string, TensorType> SupportedDTypes { get; } = new Dictionary<string, TensorType>
    {
        ["F32"] = TensorType.F32, ["F16"] = TensorType.F16, ["BF16"] = TensorType.BF16,
    };

    static readonly Dictionary<string, int> ElementBytes = new()
    {
        ["BOOL"] = 1, ["U8"] = 1, ["I8"] = 1, ["F8_E5M2"] = 1, ["F8_E4M3"] = 1,
        ["I16"] = 2, ["U16"] = 2, ["F16"] = 2, ["BF16"] = 2,
        ["I32"] = 4, ["U32"] = 4, ["F32"] = 4,
        ["I64"] = 8, ["U64"] = 8, ["F64"] = 8,
    };

    /// <summary>The tensor named <paramref name="name"/>; an error naming the file and the tensor when it is missing or of a dtype not read here.</summary>
    public MappedTensor Tensor(string name)
    {
        if (!_entries.TryGetValue(name, out var entry))
            throw new CheckpointFormatException(Path, $"tensor {name} not found");
        if (!SupportedDTypes.TryGetValue(entry.DType, out var type))
            throw new CheckpointFormatException(Path,
                $"tensor {name} has dtype {entry.DType}; this reader takes {string.Join(", ", SupportedDTypes.Keys)}");
        return new MappedTensor(_file, name, type, entry.Shape, DataStart + entry.Begin);
    }

    /// <summary>Maps and checks a safetensors file; every problem is a <see cref="CheckpointFormatException"/> naming it.</summary>
    public static SafeTensorsFile Open(string path) => MappedFile.OpenWith(path, Parse);

    static SafeTensorsFile Parse(MappedFile file)
    {
        string path = file.Path;
        if (file.Length < 8)
            throw new CheckpointFormatException(path, $"file is {file.Length} bytes, too short for a safetensors header");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(file.Bytes(0, 8));
        if (headerLength > (ulong)(file.Length - 8))
            throw new CheckpointFormatException(path,
                $"header length {headerLength} is beyond the file's {file.Length} bytes: truncated, or not a safetensors file");
        if (headerLength > MaxHeaderBytes)
            throw new CheckpointFormatException(path, $"header length {headerLength} is over the format's limit of {MaxHeaderBytes} bytes");
        long dataStart = 8 + (long)headerLength;
        long dataBytes = file.Length - dataStart;

        JsonDocument json;
        try
        {
            json = JsonDocument.Parse(file.Bytes(8, (int)headerLength).ToArray());
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException(path, $"header is not valid JSON ({e.Message}); not a safetensors file, or corrupt");
        }
        using (json)
        {
            if (json.RootElement.ValueKind != JsonValueKind.Object)
                throw new CheckpointFormatException(path, "header is not a JSON object");
            var entries = new Dictionary<string, Entry>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var property in json.RootElement.EnumerateObject())
            {
                if (property.Name == "__metadata__")
                {
                    if (property.Value.ValueKind == JsonValueKind.Object)
                        foreach (var m in property.Value.EnumerateObject())
                            metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : m.Value.GetRawText();
                    continue;
                }
                var entry = ParseEntry(path, property.Name, property.Value);
                if (entry.End > dataBytes)
                    throw new CheckpointFormatException(path,
                        $"tensor {property.Name} ends at byte {dataStart + entry.End} but the file is {file.Length} bytes: truncated");
                entries[property.Name] = entry;
            }
            return new SafeTensorsFile(file, entries, metadata, dataStart);
        }
    }

    static Entry ParseEntry(string path, string name, JsonElement value)
    {
        CheckpointFormatException Bad(string problem) => new(path, $"tensor {name}: {problem}");
        if (value.ValueKind != JsonValueKind.Object) throw Bad("its header entry is not an object");
        if (!value.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw Bad("no dtype");
        string dtype = dtypeElement.GetString()!;
        if (!value.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
            throw Bad("no shape");
        var shape = new long[shapeElement.GetArrayLength()];
        int i = 0;
        foreach (var d in shapeElement.EnumerateArray())
            shape[i++] = d.ValueKind == JsonValueKind.Number && d.TryGetInt64(out long n) && n >= 0 ? n : throw Bad($"shape has {d} as a dimension");
        if (!value.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2)
            throw Bad("no data_offsets [begin, end]");
        long begin = offsets[0].TryGetInt64(out long b) ? b : -1, end = offsets[1].TryGetInt64(out long e) ? e : -1;
        if (begin < 0 || end < begin) throw Bad($"data_offsets [{offsets[0]}, {offsets[1]}] are not a range");
        if (ElementBytes.TryGetValue(dtype, out int size))
        {
            long elements = 1;
            foreach (long d in shape) elements = d == 0 || elements <= long.MaxValue / d ? elements * d : throw Bad("shape is too large");
            if (elements > long.MaxValue / size || elements * size != end - begin)
                throw Bad($"shape [{string.Join(", ", shape)}] of {dtype} needs {(elements <= long.MaxValue / size ? elements * size : "more")} bytes but data_offsets give {end - begin}");
        }
        return new Entry(dtype, shape, begin, end);
    }

    public void Dispose() => _file.Dispose();
}

using System.Buffers.Binary;
using System.Text;
using Llama2.Engine.Model;

namespace Llama2.Engine.Formats.Gguf;

/// <summary>
/// A GGUF file (llama.cpp, Ollama), version 2 or 3, little-endian, memory-mapped: the header ("GGUF", version, tensor
/// and metadata counts), the metadata key/values (numbers, booleans, strings and arrays of them), the tensor infos
/// (name, ggml dimensions innermost first, ggml type, offset) and, aligned to <c>general.alignment</c> (32 when
/// absent), the tensors' bytes. Every count and length is checked against the file before it is used; a tensor's type
/// is checked when the tensor is asked for.
/// </summary>
public sealed class GgufFile : IDisposable
{
    public const uint Magic = 0x46554747; // "GGUF" read as a little-endian uint32
    const int DefaultAlignment = 32, MaxDimensions = 4;

    readonly MappedFile _file;
    readonly Dictionary<string, TensorInfo> _tensors;

    sealed record TensorInfo(string Name, long[] Dimensions, uint GgmlType, long Offset);

    GgufFile(MappedFile file, uint version, Dictionary<string, object> metadata, Dictionary<string, TensorInfo> tensors,
        int alignment, long dataStart)
    {
        _file = file;
        Version = version;
        Metadata = metadata;
        _tensors = tensors;
        Alignment = alignment;
        DataStart = dataStart;
    }

    public string Path => _file.Path;
    public uint Version { get; }
    /// <summary>
    /// The metadata: byte, sbyte, ushort, short, uint, int, float, bool, string, ulong, long or double values, and arrays
    /// of them as .NET arrays (string[], float[], int[], ..., object[] for arrays of arrays).
    /// </summary>
    public IReadOnlyDictionary<string, object> Metadata { get; }
    public int Alignment { get; }
    /// <summary>Where the tensor data begins; tensor offsets count from here.</summary>
    public long DataStart { get; }
    public IEnumerable<string> TensorNames => _tensors.Keys;
    public bool Contains(string name) => _tensors.ContainsKey(name);

    /// <summary>The ggml types this reader maps, by their numbers in ggml's enum.</summary>
    public static IReadOnlyDictionary<uint, TensorType> SupportedTypes { get; } = new Dictionary<uint, TensorType>
    {
        [0] = TensorType.F32, [1] = TensorType.F16, [8] = TensorType.Q8_0, [30] = TensorType.BF16,
    };

    /// <summary>ggml's other types, named in messages.</summary>
    static readonly Dictionary<uint, string> OtherTypeNames = new()
    {
        [2] = "Q4_0", [3] = "Q4_1", [6] = "Q5_0", [7] = "Q5_1", [9] = "Q8_1", [10] = "Q2_K", [11] = "Q3_K", [12] = "Q4_K",
        [13] = "Q5_K", [14] = "Q6_K", [15] = "Q8_K", [16] = "IQ2_XXS", [17] = "IQ2_XS", [18] = "IQ3_XXS", [19] = "IQ1_S",
        [20] = "IQ4_NL", [21] = "IQ3_S", [22] = "IQ2_S", [23] = "IQ4_XS", [24] = "I8", [25] = "I16", [26] = "I32",
        [27] = "I64", [28] = "F64", [29] = "IQ1_M", [34] = "TQ1_0", [35] = "TQ2_0", [39] = "MXFP4",
    };

    /// <summary>Whether the file starts with GGUF's magic.</summary>
    public static bool HasMagic(string path)
    {
        Span<byte> head = stackalloc byte[4];
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        return stream.ReadAtLeast(head, 4, throwOnEndOfStream: false) == 4 && BinaryPrimitives.ReadUInt32LittleEndian(head) == Magic;
    }

    /// <summary>The tensor named <paramref name="name"/>, row-major (ggml's dimensions reversed).</summary>
    public MappedTensor Tensor(string name)
    {
        if (!_tensors.TryGetValue(name, out var info))
            throw new CheckpointFormatException(Path, $"tensor {name} not found");
        if (!SupportedTypes.TryGetValue(info.GgmlType, out var type))
            throw new CheckpointFormatException(Path, $"tensor {name} has ggml type " + (OtherTypeNames.TryGetValue(info.GgmlType, out var known)
                ? $"{known} ({info.GgmlType}), which this reader does not take; it takes F32, F16, BF16 and Q8_0 (llama.cpp's llama-quantize makes Q8_0)"
                : $"{info.GgmlType}, which is not a type ggml defines (corrupt file, or a newer GGUF than this reader knows)"));
        long elements = info.Dimensions.Aggregate(1L, (p, d) => p * d);
        if (type.ByteCount(elements) is not { } bytes)
            throw new CheckpointFormatException(Path, $"tensor {name} has {elements} elements, not whole {type} blocks");
        if (DataStart + info.Offset > _file.Length - bytes)
            throw new CheckpointFormatException(Path,
                $"tensor {name} ends at byte {DataStart + info.Offset + bytes} but the file is {_file.Length} bytes: truncated");
        return new MappedTensor(_file, name, type, info.Dimensions.Reverse().ToArray(), DataStart + info.Offset);
    }

    /// <summary>Maps and checks a GGUF file; every problem is a <see cref="CheckpointFormatException"/> naming it.</summary>
    public static GgufFile Open(string path) => MappedFile.OpenWith(path, Parse);

    static GgufFile Parse(MappedFile file)
    {
        var reader = new Reader(file);
        if (reader.U32("the magic") != Magic)
            throw new CheckpointFormatException(file.Path, "not a GGUF file (it does not start with 'GGUF' and a header)");
        uint version = reader.U32("the version");
        if (version is not (2 or 3))
            throw new CheckpointFormatException(file.Path, version >= 1 << 16
                ? $"version {version} reads as a big-endian GGUF file, which this reader does not take"
                : $"GGUF version {version}; this reader takes versions 2 and 3 (convert it again with a current llama.cpp)");
        ulong tensorCount = reader.U64("the tensor count"), metadataCount = reader.U64("the metadata count");

        var metadata = new Dictionary<string, object>(StringComparer.Ordinal);
        for (ulong i = 0; i < metadataCount; i++)
        {
            string key = reader.String($"metadata key {i}");
            uint type = reader.U32($"metadata key {key}'s type");
            metadata[key] = reader.Value(type, key);
        }

        int alignment = DefaultAlignment;
        if (metadata.TryGetValue("general.alignment", out var a))
        {
            alignment = a is uint u && u > 0 && u % 8 == 0 && u <= 1 << 20 ? (int)u
                : throw new CheckpointFormatException(file.Path, $"general.alignment is {a}; it must be a uint32 multiple of 8");
        }

        var tensors = new Dictionary<string, TensorInfo>(StringComparer.Ordinal);
        for (ulong i = 0; i < tensorCount; i++)
        {
            string name = reader.String($"tensor {i}'s name");
            uint dimensionCount = reader.U32($"tensor {name}'s dimension count");
            if (dimensionCount is 0 or > MaxDimensions)
                throw new CheckpointFormatException(file.Path, $"tensor {name} has {dimensionCount} dimensions; GGUF allows 1 to {MaxDimensions}");
            var dimensions = new long[dimensionCount];
            long elements = 1;
            for (int d = 0; d < dimensionCount; d++)
            {
                ulong size = reader.U64($"tensor {name}'s dimensions");
                if (size == 0 || size > (ulong)file.Length * 8 || (elements *= (long)size) > file.Length * 8L)
                    throw new CheckpointFormatException(file.Path, $"tensor {name} has dimension {size}, impossible in a file of {file.Length} bytes");
                dimensions[d] = (long)size;
            }
            uint type = reader.U32($"tensor {name}'s type");
            ulong offset = reader.U64($"tensor {name}'s offset");
            if (offset % (ulong)alignment != 0 || offset > (ulong)file.Length)
                throw new CheckpointFormatException(file.Path, $"tensor {name} has offset {offset}, not a multiple of the alignment {alignment} within the file");
            if (!tensors.TryAdd(name, new TensorInfo(name, dimensions, type, (long)offset)))
                throw new CheckpointFormatException(file.Path, $"tensor {name} is listed twice");
        }
        long dataStart = (reader.Position + alignment - 1) / alignment * alignment;
        return new GgufFile(file, version, metadata, tensors, alignment, dataStart);
    }

    /// <summary>Reads the header's values in order, each read checked against the end of the file.</summary>
    sealed class Reader(MappedFile file)
    {
        const int MaxNesting = 4;

        public long Position { get; private set; }

        ReadOnlySpan<byte> Take(long count, string what)
        {
            if (count < 0 || count > file.Length - Position)
                throw new CheckpointFormatException(file.Path, $"{what} runs past the end of the file (at byte {Position}): truncated or corrupt");
            var span = file.Bytes(Position, (int)count);
            Position += count;
            return span;
        }

        public uint U32(string what) => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, what));
        public ulong U64(string what) => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, what));

        public string String(string what)
        {
            ulong length = U64(what);
            if (length > int.MaxValue) Take(long.MaxValue, what); // throws: longer than any file we map
            return Encoding.UTF8.GetString(Take((long)length, what));
        }

        public object Value(uint type, string key, int depth = 0)
        {
            string what = $"metadata key {key}";
            return type switch
            {
                0 => Take(1, what)[0],
                1 => (sbyte)Take(1, what)[0],
                2 => BinaryPrimitives.ReadUInt16LittleEndian(Take(2, what)),
                3 => BinaryPrimitives.ReadInt16LittleEndian(Take(2, what)),
                4 => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, what)),
                5 => BinaryPrimitives.ReadInt32LittleEndian(Take(4, what)),
                6 => BinaryPrimitives.ReadSingleLittleEndian(Take(4, what)),
                7 => Take(1, what)[0] switch
                {
                    0 => false,
                    1 => true,
                    var b => throw new CheckpointFormatException(file.Path, $"{what} is a bool of value {b}"),
                },
                8 => String(what),
                9 when depth < MaxNesting => Array(key, depth),
                10 => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, what)),
                11 => BinaryPrimitives.ReadInt64LittleEndian(Take(8, what)),
                12 => BinaryPrimitives.ReadDoubleLittleEndian(Take(8, what)),
                9 => throw new CheckpointFormatException(file.Path, $"{what} nests arrays more than {MaxNesting} deep"),
                _ => throw new CheckpointFormatException(file.Path, $"{what} has value type {type}, which GGUF does not define"),
            };
        }

        Array Array(string key, int depth)
        {
            uint elementType = U32($"metadata key {key}'s array type");
            ulong count = U64($"metadata key {key}'s array length");
            // Every element takes at least one byte (a string its 8-byte length): a count the file cannot hold is corrupt.
            int least = elementType switch { 0 or 1 or 7 => 1, 2 or 3 => 2, 4 or 5 or 6 => 4, 8 or 10 or 11 or 12 => 8, 9 => 12, _ => 1 };
            if (count > (ulong)((file.Length - Position) / least))
                throw new CheckpointFormatException(file.Path, $"metadata key {key} is an array of {count} elements, more than the rest of the file holds");
            int n = (int)count;
            Array values = elementType switch
            {
                0 => new byte[n], 1 => new sbyte[n], 2 => new ushort[n], 3 => new short[n], 4 => new uint[n], 5 => new int[n],
                6 => new float[n], 7 => new bool[n], 8 => new string[n], 10 => new ulong[n], 11 => new long[n], 12 => new double[n],
                _ => new object[n],
            };
            for (int i = 0; i < n; i++) values.SetValue(Value(elementType, key, depth + 1), i);
            return values;
        }
    }

    public void Dispose() => _file.Dispose();
}

using System.Text;
using System.Text.Json;

namespace Llama2.Engine.Tests.Formats;

/// <summary>
/// Writes .safetensors files as the safetensors library does (for the tests): an 8-byte little-endian header length,
/// the JSON header (dtype, shape, data_offsets per tensor, __metadata__) padded with spaces to a multiple of 8, then
/// the tensors' bytes back to back in the header's order.
/// </summary>
public sealed class SafeTensorsWriter
{
    readonly List<(string Name, string DType, long[] Shape, byte[] Bytes)> _tensors = [];

    public SafeTensorsWriter Add(string name, string dtype, long[] shape, byte[] bytes)
    {
        _tensors.Add((name, dtype, shape, bytes));
        return this;
    }

    /// <summary>The header's JSON, before padding, for tests that corrupt it.</summary>
    public string HeaderJson()
    {
        var header = new Dictionary<string, object> { ["__metadata__"] = new Dictionary<string, string> { ["format"] = "pt" } };
        long offset = 0;
        foreach (var (name, dtype, shape, bytes) in _tensors)
        {
            header[name] = new { dtype, shape, data_offsets = new[] { offset, offset + bytes.Length } };
            offset += bytes.Length;
        }
        return JsonSerializer.Serialize(header);
    }

    public void Write(string path, string? headerJson = null)
    {
        var header = Encoding.UTF8.GetBytes(headerJson ?? HeaderJson());
        int padded = (header.Length + 7) / 8 * 8;
        using var stream = File.Create(path);
        stream.Write(BitConverter.GetBytes((ulong)padded));
        stream.Write(header);
        for (int i = header.Length; i < padded; i++) stream.WriteByte((byte)' ');
        foreach (var tensor in _tensors) stream.Write(tensor.Bytes);
    }
}

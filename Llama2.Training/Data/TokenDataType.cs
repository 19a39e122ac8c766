using System.Text.Json.Serialization;

namespace Llama2.Training.Data;

/// <summary>How a token file stores each token: little-endian, one after another, nothing else in the file.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<TokenDataType>))]
public enum TokenDataType
{
    /// <summary>2 bytes per token, for vocabularies of up to 65536 tokens (as llama2.c's tinystories.py writes).</summary>
    [JsonStringEnumMemberName("uint16")] UInt16,
    /// <summary>4 bytes per token, for larger vocabularies.</summary>
    [JsonStringEnumMemberName("int32")] Int32,
}

public static class TokenDataTypes
{
    /// <summary>uint16 when every token id fits, else int32.</summary>
    public static TokenDataType For(int vocabSize) => vocabSize <= 1 << 16 ? TokenDataType.UInt16 : TokenDataType.Int32;

    public static int BytesPerToken(this TokenDataType type) => type == TokenDataType.UInt16 ? 2 : 4;
}

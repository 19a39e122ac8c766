namespace Llama2.Server.Tests.Model;

/// <summary>
/// Int8 weights in the server: quantized at load (Model:Quantization = q8_0) or from a version 2 file, and said so by
/// /info, /metrics and the generation itself.
/// </summary>
public sealed class QuantizationTests
{
    const string Request = """{"inputs": "Once upon a time", "parameters": {"max_new_tokens": 24, "do_sample": false}}""";

    [Fact]
    public async Task Quantized_at_load_the_server_says_so_and_generates_what_the_quantized_file_generates()
    {
        await using var atLoad = ServerFactory.Tiny32k(("Model:Quantization", "q8_0"));
        var client = await atLoad.CreateReadyClientAsync();

        var info = await (await client.GetAsync("/info", TestToken)).ReadJsonAsync();
        Assert.Equal("q8_0 (at load)", info.GetProperty("quantization").GetString());
        Assert.Equal("int8", info.GetProperty("model_dtype").GetString());
        var metrics = new PrometheusText(await client.GetStringAsync("/metrics", TestToken));
        Assert.Contains("quantization=\"q8_0 (at load)\"", metrics.Text);
        string quantizedAtLoad = (await (await client.PostJsonAsync("/generate", Request)).ReadJsonAsync()).GetProperty("generated_text").GetString()!;

        await using var fromFile = new ServerFactory(new Dictionary<string, string?>
        {
            ["Model:CheckpointPath"] = SharedData.Require("models/tiny32k-q80.bin"),
            ["Model:TokenizerPath"] = SharedData.Tokenizer32k,
        });
        var fileClient = await fromFile.CreateReadyClientAsync();
        var fileInfo = await (await fileClient.GetAsync("/info", TestToken)).ReadJsonAsync();
        Assert.Equal("q8_0 (file)", fileInfo.GetProperty("quantization").GetString());
        Assert.Equal(new FileInfo(SharedData.Require("models/tiny32k-q80.bin")).Length, fileInfo.GetProperty("model").GetProperty("file_bytes").GetInt64());
        string quantizedFile = (await (await fileClient.PostJsonAsync("/generate", Request)).ReadJsonAsync()).GetProperty("generated_text").GetString()!;

        Assert.Equal(quantizedFile, quantizedAtLoad);
        Assert.NotEmpty(quantizedAtLoad);
    }
}

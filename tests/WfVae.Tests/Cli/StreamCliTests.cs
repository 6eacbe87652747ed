using System.Text.Json;
using WfVae.Cli;
using WfVae.Model.Checkpoint;
using WfVae.Streaming.LatentStream;
using WfVae.Tests.Reference;
using WfVae.Tests.Streaming;
using Xunit;
using static WfVae.Tests.Cli.CliRunner;

namespace WfVae.Tests.Cli;

/// <summary>wfvae encode/decode streaming options: --chunk, --stats, --policy, .wfl, raw frames.</summary>
public sealed class StreamCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("wfvae-stream-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string P(string name) => Path.Combine(_dir, name);

    [Fact]
    public void BenchStreamSessionsChecksConcurrentStreamsAgainstSingleSessionRuns()
    {
        var model = StreamTestKit.RandomFolder(StreamTestKit.SmallConfig);
        var r = Run("bench", "stream", "--sessions", "3", "--model", model, "--frames", "9", "--height", "16", "--width", "24");
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("bit-identical to single-session runs: yes", r.Out);
        Assert.Contains("3 concurrent encode+decode streams of different 9x16x24 clips", r.Out);
        Assert.Matches(@"aggregate throughput: [0-9.]+ frames/s", r.Out);
        Assert.Matches(@"3 separate models: [0-9.]+ MiB \(3 x [0-9.]+ MiB\)", r.Out);
        var usage = Run("bench", "stream", "--sessions", "2", "--model", model, "--height", "12");
        Assert.Equal(2, usage.Code);
    }

    [Fact]
    public void WflRoundTripWithChunksAndStatsMatchesWholeClipAndTheGoldenCase()
    {
        var model = Path.Combine(TestPaths.Golden("tiny"), "model.safetensors");
        var io = Path.Combine(TestPaths.Golden("tiny"), "io.safetensors");
        var enc = Run("encode", "--model", model, "--input", io, "--output", P("z.wfl"), "--chunk", "4", "--stats", P("enc.json"));
        Assert.True(enc.Code == 0, enc.Err);
        var dec = Run("decode", "--model", model, "--input", P("z.wfl"), "--output", P("v.safetensors"), "--chunk", "1", "--stats", P("dec.json"));
        Assert.True(dec.Code == 0, dec.Err);
        var whole = Run("encode", "--model", model, "--input", io, "--output", P("z0.safetensors"), "--chunk", "0");
        Assert.True(whole.Code == 0, whole.Err);

        using (var r = LatentStreamReader.Open(P("z.wfl")))
        {
            var (mean, _) = r.ReadAll();
            Assert.True(r.Complete);
            Assert.Equal(9, r.Trailer!.VideoFrames);
            using var f0 = SafetensorsFile.Open(P("z0.safetensors"));
            Assert.Equal(f0.ReadFloat32("mean"), mean.Data); // chunk 4 == whole clip, bit for bit
        }
        using (var f = SafetensorsFile.Open(P("v.safetensors")))
        {
            Assert.Equal(new long[] { 1, 3, 9, 32, 48 }, f.Tensors["decoded"].Shape);
            var golden = ReferenceTolerance.Golden("tiny");
            Assert.True(CpuTensor.RelErr(new CpuTensor(3, 9, 32, 48, f.ReadFloat32("decoded")), golden.Tensor("decoded")) <= ReferenceTolerance.Decoded);
        }

        using var encStats = JsonDocument.Parse(File.ReadAllText(P("enc.json")));
        var e = encStats.RootElement;
        Assert.True(e.GetProperty("peak_device_bytes").GetInt64() > 0);
        // The memory breakdown: planned activations cover the live set, the weights are the model's.
        var m = e.GetProperty("memory");
        Assert.True(m.GetProperty("weight_bytes").GetInt64() > 0);
        Assert.True(m.GetProperty("cache_bytes").GetInt64() > 0);
        Assert.True(m.GetProperty("planned_activation_bytes").GetInt64() >= m.GetProperty("live_set_bytes").GetInt64());
        Assert.Equal(2, m.GetProperty("largest_live_bytes").GetArrayLength());
        Assert.True(e.GetProperty("peak_device_bytes").GetInt64() >= m.GetProperty("weight_bytes").GetInt64() + m.GetProperty("cache_bytes").GetInt64());
        Assert.Equal(9, e.GetProperty("frames_in").GetInt64());
        Assert.Equal(3, e.GetProperty("frames_out").GetInt64());
        Assert.Equal(3, e.GetProperty("chunk_latency_ms").GetArrayLength()); // frame 0, then 4 + 4
        using var decStats = JsonDocument.Parse(File.ReadAllText(P("dec.json")));
        var d = decStats.RootElement;
        Assert.Equal(3, d.GetProperty("frames_in").GetInt64());
        Assert.Equal(9, d.GetProperty("frames_out").GetInt64());
        Assert.Equal(4, d.GetProperty("chunk_latency_ms").GetArrayLength()); // 3 latents + the flush
        Assert.All(d.GetProperty("chunks").EnumerateArray(), c => Assert.True(c.GetProperty("latency_ms").GetDouble() > 0));
    }

    [Theory]
    [InlineData("pad", 6)]
    [InlineData("drop", 5)]
    public void RawRgbFramesRoundTripToTheRightFrameCount(string policy, int expectedFrames)
    {
        var model = StreamTestKit.RandomFolder(StreamTestKit.SmallConfig);
        const int w = 16, h = 16, frames = 6;
        File.WriteAllBytes(P("in.rgb"), Enumerable.Range(0, frames * w * h * 3).Select(i => (byte)(i * 31 % 251)).ToArray());
        var enc = Run("encode", "--model", model, "--input", P("in.rgb"), "--raw", "rgb24", "--size", $"{w}x{h}", "--fps", "25",
            "--output", P("z.wfl"), "--policy", policy, "--stats", P("s.json"));
        Assert.True(enc.Code == 0, enc.Err);
        Assert.Contains(policy == "pad" ? "padded 3 frames" : "dropped 1 frames", enc.Out);
        var dec = Run("decode", "--model", model, "--input", P("z.wfl"), "--output", P("out.rgb"), "--raw", "rgb24");
        Assert.True(dec.Code == 0, dec.Err);
        Assert.Equal(expectedFrames * w * h * 3, new FileInfo(P("out.rgb")).Length);
        using var stats = JsonDocument.Parse(File.ReadAllText(P("s.json")));
        Assert.Equal(policy == "pad" ? 3 : 0, stats.RootElement.GetProperty("padded_frames").GetInt32());
        Assert.Equal(policy == "drop" ? 1 : 0, stats.RootElement.GetProperty("dropped_frames").GetInt32());
    }

    [Fact]
    public void BadStreamingInputsGiveOneLineErrors()
    {
        var small = StreamTestKit.RandomFolder(StreamTestKit.SmallConfig);
        var io = Path.Combine(TestPaths.Golden("tiny"), "io.safetensors");
        File.WriteAllBytes(P("cut.rgb"), new byte[2 * 16 * 16 * 3 + 10]);
        var cases = new[]
        {
            Run("encode", "--model", Path.Combine(TestPaths.Golden("tiny"), "model.safetensors"), "--input", io, "--output", P("a.wfl"), "--chunk", "6"),
            Run("encode", "--model", Path.Combine(TestPaths.Golden("groupnorm"), "model.safetensors"), "--input",
                Path.Combine(TestPaths.Golden("groupnorm"), "io.safetensors"), "--output", P("b.wfl"), "--chunk", "4"),
            Run("encode", "--model", small, "--input", P("cut.rgb"), "--raw", "rgb24", "--size", "16x16", "--output", P("c.wfl")),
            Run("encode", "--model", small, "--input", P("cut.rgb"), "--raw", "rgb24", "--output", P("d.wfl")),
            Run("encode", "--model", small, "--input", io, "--output", P("e.wfl"), "--policy", "maybe"),
        };
        foreach (var (code, _, err) in cases)
        {
            Assert.NotEqual(0, code);
            Assert.Single(err.Trim().Split('\n'));
            Assert.StartsWith("wfvae encode", err);
        }
        Assert.Contains("multiple of 4", cases[0].Err);
        Assert.Contains("GroupNorm", cases[1].Err);
        Assert.Contains("10 bytes after 2 complete frames", cases[2].Err);
        Assert.Contains("--size", cases[3].Err);
        Assert.Contains("pad or drop", cases[4].Err);
        Assert.False(File.Exists(P("a.wfl")) || File.Exists(P("b.wfl")) || File.Exists(P("c.wfl")));
        // The truncated stream kept what it encoded before the error: latent 0 (frame 0) in the partial file.
        using var partial = LatentStreamReader.Open(WfVae.IO.OutputFile.TemporariesOf(P("c.wfl")).Single());
        Assert.Equal(1, partial.ReadChunks().Sum(c => c.Frames));
        Assert.False(partial.Complete);
    }
}

using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Hashing;
using System.Text;
using System.Text.Json.Nodes;
using WfVae.Model.Checkpoint;
using WfVae.Streaming.LatentStream;
using WfVae.Tests.Media;
using WfVae.Tests.Streaming;
using Xunit;

namespace WfVae.Tests.Cli;

/// <summary>
/// Every bad input of issue #15's "Why" (4, 5, 6) as a CLI case: one line naming the problem, exit 1
/// (bad input) or 2 (usage), never 70, never a hang, never a silent result.
/// </summary>
public sealed class BadInputCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("wfvae-badinput-").FullName;
    private readonly string _small = StreamTestKit.RandomFolder(StreamTestKit.SmallConfig);
    private static readonly string Tiny = TestPaths.Golden("tiny");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string P(string name) => Path.Combine(_dir, name);

    /// <summary>Runs the CLI in-process with a deadline (a FIFO read by mistake would block forever).</summary>
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var run = Task.Run(() => CliRunner.Run(args));
        Assert.True(run.Wait(TimeSpan.FromSeconds(120)), $"wfvae {string.Join(' ', args)} hung");
        return run.Result;
    }

    private static void AssertFails(int code, (int Code, string Out, string Err) r, string mentions)
    {
        Assert.True(r.Code == code, $"exit {r.Code}, expected {code}: {r.Err}");
        Assert.Single(r.Err.Trim().Split('\n'));
        Assert.Contains(mentions, r.Err);
    }

    /// <summary>A copy of the tiny golden checkpoint as a folder (config.json + weights), weights optionally edited.</summary>
    private string TinyFolder(string name, Action<Dictionary<string, (long[] Shape, float[] Data)>>? edit = null, bool weights = true)
    {
        var folder = P(name);
        Directory.CreateDirectory(folder);
        File.Copy(Path.Combine(Tiny, "config.json"), Path.Combine(folder, "config.json"));
        if (!weights) return folder;
        var tensors = new Dictionary<string, (long[] Shape, float[] Data)>(StringComparer.Ordinal);
        using (var file = SafetensorsFile.Open(Path.Combine(Tiny, "model.safetensors")))
            foreach (var info in file.Tensors.Values) tensors[info.Name] = (info.Shape, file.ReadFloat32(info.Name));
        edit?.Invoke(tensors);
        SafetensorsWriter.Write(Path.Combine(folder, CheckpointLocator.DiffusersWeightsName),
            tensors.Select(kv => (kv.Key, kv.Value.Shape, (ReadOnlyMemory<float>)kv.Value.Data)));
        return folder;
    }

    private static void MakeFifo(string path)
    {
        using var p = Process.Start("mkfifo", [path])!;
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }

    private string VideoTensor(string name, int t, int h, int w, Action<float[]>? edit = null)
    {
        var data = StreamTestKit.RandomVideo(t, h, w, seed: 3); // any values in [-1, 1], laid out as [1,3,T,H,W]
        edit?.Invoke(data);
        SafetensorsWriter.Write(P(name), [("video", new long[] { 1, 3, t, h, w }, (ReadOnlyMemory<float>)data)]);
        return P(name);
    }

    [Theory]
    [InlineData("I32", 4)]
    [InlineData("U8", 1)]
    public void IntegerVideoTensorsAreBadInput(string dtype, int size)
    {
        var header = "{\"video\":{\"dtype\":\"" + dtype + "\",\"shape\":[1,3,1,8,8],\"data_offsets\":[0," + 192 * size + "]}}";
        File.WriteAllBytes(P("int.safetensors"), Checkpoint.SafetensorsTestFiles.Build(header, new byte[192 * size]));
        AssertFails(1, Run("encode", "--model", _small, "--input", P("int.safetensors"), "--output", P("z.wfl")), $"is {dtype}");
    }

    [Fact]
    public void AbsurdConfigValuesAreRefusedBeforeAnythingIsBuilt()
    {
        var folder = TinyFolder("huge", weights: true);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "config.json")))!;
        config["encoder_num_resblocks"] = 1000000;
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString());
        AssertFails(1, Run("info", "--model", folder), "encoder_num_resblocks");
    }

    [Fact]
    public void ConfigsAndWeightsMustBeRegularFiles()
    {
        var zero = TinyFolder("zero");
        File.Delete(Path.Combine(zero, "config.json"));
        File.CreateSymbolicLink(Path.Combine(zero, "config.json"), "/dev/zero");
        AssertFails(1, Run("info", "--model", zero), "character device");

        var fifoConfig = TinyFolder("fifo-config");
        File.Delete(Path.Combine(fifoConfig, "config.json"));
        MakeFifo(Path.Combine(fifoConfig, "config.json"));
        AssertFails(1, Run("info", "--model", fifoConfig), "FIFO");

        var fifoWeights = TinyFolder("fifo-weights", weights: false);
        MakeFifo(Path.Combine(fifoWeights, CheckpointLocator.DiffusersWeightsName));
        AssertFails(1, Run("info", "--model", fifoWeights), "FIFO");

        var big = TinyFolder("big-config");
        File.AppendAllText(Path.Combine(big, "config.json"), new string(' ', WfVaeConfig.MaxConfigBytes));
        AssertFails(1, Run("info", "--model", big), "the limit is");
    }

    [Fact]
    public void NonFiniteWeightsAreRefusedAtLoadNamingTheTensor()
    {
        var folder = TinyFolder("nan", t => t["decoder.conv_out.weight"].Data[5] = float.NaN);
        AssertFails(1, Run("info", "--model", folder), "weight 'decoder.conv_out.weight' holds NaN at element 5");
        var inf = TinyFolder("inf", t => t["encoder.conv_out.conv.bias"].Data[0] = float.NegativeInfinity);
        AssertFails(1, Run("encode", "--model", inf, "--input", Path.Combine(Tiny, "io.safetensors"), "--output", P("z.wfl")), "-inf");
        Assert.False(File.Exists(P("z.wfl")));
    }

    [Fact]
    public void NonFiniteFramesAndLatentsAreRefusedNamingTheFrame()
    {
        // [1,3,T,H,W]: frame 6, channel 0, row 1, column 1.
        var video = VideoTensor("inf.safetensors", 9, 16, 16, d => d[6 * 16 * 16 + 16 + 1] = float.PositiveInfinity);
        var enc = Run("encode", "--model", _small, "--input", video, "--output", P("v.wfl"));
        AssertFails(1, enc, "frame 6 of the input holds +inf at channel 0, row 1, column 1");

        // Raw float frames: frame 2 has a NaN.
        var raw = new float[3 * 3 * 8 * 8];
        raw[2 * 192 + 64] = float.NaN;
        File.WriteAllBytes(P("in.f32"), System.Runtime.InteropServices.MemoryMarshal.AsBytes(raw.AsSpan()).ToArray());
        AssertFails(1, Run("encode", "--model", _small, "--input", P("in.f32"), "--raw", "f32", "--size", "8x8", "--output", P("f.wfl")),
            "frame 2 of the input holds NaN at channel 1, row 0, column 0");

        // Latents in safetensors: latent frame 1 of item 0.
        var ok = Run("encode", "--model", _small, "--input", VideoTensor("ok.safetensors", 5, 16, 16), "--output", P("z.safetensors"));
        Assert.True(ok.Code == 0, ok.Err);
        Dictionary<string, (long[] Shape, float[] Data)> t;
        using (var f = SafetensorsFile.Open(P("z.safetensors")))
            t = f.Tensors.Values.ToDictionary(i => i.Name, i => (i.Shape, f.ReadFloat32(i.Name)));
        t["mean"].Data[1 * 2 * 2 + 0] = float.NaN; // [1, L=4, t=2, 2, 2]: channel 0, latent frame 1, row 0, column 0
        SafetensorsWriter.Write(P("nan.safetensors"), t.Select(kv => (kv.Key, kv.Value.Shape, (ReadOnlyMemory<float>)kv.Value.Data)));
        AssertFails(1, Run("decode", "--model", _small, "--input", P("nan.safetensors"), "--output", P("d.safetensors")),
            "latent frame 1 holds NaN at channel 0, row 0, column 0");
        Assert.False(File.Exists(P("d.safetensors")));
    }

    [Fact]
    public void EmptyResultsAreErrors()
    {
        File.WriteAllBytes(P("empty.rgb"), []);
        AssertFails(1, Run("encode", "--model", _small, "--input", P("empty.rgb"), "--raw", "16x16@25", "--output", P("e.wfl")), "no latent came out");
        Assert.Empty(Directory.GetFiles(_dir, "e.wfl*"));

        // A stream whose only chunk is cut off: nothing to decode, no output file.
        var enc = Run("encode", "--model", _small, "--input", VideoTensor("one.safetensors", 1, 16, 16), "--output", P("one.wfl"));
        Assert.True(enc.Code == 0, enc.Err);
        var bytes = File.ReadAllBytes(P("one.wfl"));
        File.WriteAllBytes(P("cut.wfl"), bytes[..^(44 + 10)]); // the trailer and the end of the chunk
        AssertFails(1, Run("decode", "--model", _small, "--input", P("cut.wfl"), "--raw", "rgb24", "--output", P("out.rgb")), "no latent frame");
        Assert.Empty(Directory.GetFiles(_dir, "out.rgb*"));
    }

    [Fact]
    public void AStreamDamagedInTheMiddleIsRefused_ItsIntactPartDecodesOnlyWhenAskedFor()
    {
        var enc = Run("encode", "--model", _small, "--input", VideoTensor("v9.safetensors", 9, 16, 16), "--output", P("v9.wfl"));
        Assert.True(enc.Code == 0, enc.Err);
        var bytes = File.ReadAllBytes(P("v9.wfl"));
        var chunks = Enumerable.Range(0, bytes.Length - 4).Where(i => Encoding.ASCII.GetString(bytes, i, 4) == "CHNK").ToList();
        Assert.Equal(3, chunks.Count); // 1, 4, 4 frames: one latent frame each
        bytes[chunks[1] + LatentStreamFormat.RecordPrefixBytes + 40] ^= 0x10; // inside the second chunk's body, before more data
        File.WriteAllBytes(P("damaged.wfl"), bytes);

        AssertFails(1, Run("decode", "--model", _small, "--input", P("damaged.wfl"), "--raw", "rgb24", "--output", P("out.rgb")),
            $"damaged.wfl is incomplete (CRC mismatch in record at byte {chunks[1]}");
        Assert.Empty(Directory.GetFiles(_dir, "out.rgb*"));
        var partial = Run("decode", "--model", _small, "--input", P("damaged.wfl"), "--raw", "rgb24", "--output", P("out.rgb"), "--allow-incomplete");
        Assert.True(partial.Code == 0, partial.Err);
        Assert.Contains("decoding its 1 intact latent frames", partial.Err);
        Assert.Equal(16 * 16 * 3, new FileInfo(P("out.rgb")).Length);

        // The flag belongs to latent streams only.
        AssertFails(2, Run("decode", "--model", _small, "--input", VideoTensor("t.safetensors", 1, 16, 16), "--tensor", "video",
            "--raw", "rgb24", "--output", P("t.rgb"), "--allow-incomplete"), "--allow-incomplete");
    }

    [Fact]
    public void ATrailerThatBreaksTheInvariantIsNotTrusted()
    {
        var enc = Run("encode", "--model", _small, "--input", VideoTensor("v.safetensors", 5, 16, 16), "--output", P("v.wfl"));
        Assert.True(enc.Code == 0, enc.Err);
        var bytes = File.ReadAllBytes(P("v.wfl"));
        int trailer = bytes.Length - 44;
        Assert.Equal("TRLR", Encoding.ASCII.GetString(bytes, trailer, 4));
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(trailer + 16), ulong.MaxValue);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(trailer + 40), Crc32.HashToUInt32(bytes.AsSpan(trailer, 40)));
        File.WriteAllBytes(P("lying.wfl"), bytes);
        var info = Run("info", "--input", P("lying.wfl"));
        Assert.True(info.Code == 0, info.Err);
        Assert.DoesNotContain("\ncomplete:", "\n" + info.Out); // the "complete: 9223372036854775807 video frames" line of old
        Assert.Contains("incomplete:    trailer at byte", info.Out);
        Assert.Contains("inconsistent", info.Out);
    }

    [Fact]
    public void UsageMistakesExit2()
    {
        var io = Path.Combine(Tiny, "io.safetensors");
        var model = Path.Combine(Tiny, "model.safetensors");
        AssertFails(2, Run("encode", "--model", model, "--input", io, "--output", P("a.wfl"), "--polcy", "drop"), "did you mean --policy?");
        AssertFails(2, Run("encode", "--model", model, "--input", io, "--output", P("a.wfl"), "--chunk", "3"), "multiple of 4");
        AssertFails(2, Run("info", "--model", model, "--frobnicate"), "unknown option '--frobnicate'");
        // "-" where only a path will do: a folder named "-" of old (generate, convert), "'./-' does not exist" (decode, repair).
        bool dashBefore = Path.Exists("-");
        AssertFails(2, Run("generate", "--config", Path.Combine(Tiny, "config.json"), "--output", "-"), "--output -: generate writes a checkpoint folder");
        AssertFails(2, Run("convert", model, "-"), "--output -: convert writes a checkpoint folder");
        AssertFails(2, Run("decode", "--model", model, "-", P("d.mp4")), "--input -: decode reads latents from a .wfl or .safetensors file");
        AssertFails(2, Run("repair", "-"), "--input -: repair completes a latent stream file");
        Assert.Equal(dashBefore, Path.Exists("-"));
        // Frame sizes whose frames of floats overflow a push (an "Arithmetic operation resulted in an overflow" of old).
        AssertFails(2, Run("warmup", "--model", model, "--height", "65536", "--width", "65536"), "65536x65536 frame is too large");
        AssertFails(2, Run("info", "--model", model, "--height", "100000", "--width", "100000"), "100000x100000 frame is too large");
        Assert.Empty(Directory.GetFiles(_dir));
    }

    [Fact]
    public void VerifyOfACaseWithoutAnOutputNamesTheMissingTensor()
    {
        var golden = TestPaths.Golden("tiny");
        var folder = Directory.CreateDirectory(P("case")).FullName;
        foreach (var name in new[] { "config.json", "model.safetensors" }) File.Copy(Path.Combine(golden, name), Path.Combine(folder, name));
        using (var io = WfVae.Model.Checkpoint.SafetensorsFile.Open(Path.Combine(golden, "io.safetensors")))
            WfVae.Model.Checkpoint.SafetensorsWriter.Write(Path.Combine(folder, "io.safetensors"),
                new[] { "video", "mean", "logvar" }.Select(n => (n, io.GetInfo(n).Shape.ToArray(), (ReadOnlyMemory<float>)io.ReadFloat32(n))));
        AssertFails(1, Run("verify", "--case", folder), "has no 'decoded' tensor");
    }

    [Fact]
    public void OptionsThatWouldHaveNoEffectAreUsageErrors()
    {
        var video = VideoTensor("v.safetensors", 5, 16, 16);
        File.WriteAllBytes(P("in.rgb"), new byte[5 * 16 * 16 * 3]);
        var ok = Run("encode", "--model", _small, video, P("z.wfl"));
        Assert.True(ok.Code == 0, ok.Err);
        var cases = new (string[] Args, string Named)[]
        {
            (["encode", video, P("a.wfl"), "--vf", "scale=8:8"], "--vf"),
            (["encode", video, P("b.wfl"), "--size", "8x8"], "--size"),
            (["encode", P("in.rgb"), P("c.safetensors"), "--raw", "16x16@25", "--tensor", "video"], "--tensor"),
            (["encode", video, P("d.wfl"), "--sample-seed", "7"], "--sample-seed"),
            (["recon", P("in.rgb"), P("e.mp4"), "--size", "8x8"], "--size"),
            (["decode", P("z.wfl"), P("f.mp4"), "--tensor", "mean"], "--tensor"),
            (["decode", P("z.wfl"), P("g.safetensors"), "--codec", "ffv1"], "--codec"),
            (["decode", P("z.wfl"), P("h.rgb"), "--raw", "rgb24", "--crf", "20"], "--crf"),
            (["decode", P("z.wfl"), P("k.safetensors"), "--fps", "24"], "--fps"),
            (["encode", P("in.rgb"), P("l.wfl"), "--raw", "16x16@25", "--format", "mpegts"], "--format"),
            (["recon", P("in.rgb"), P("m.rgb"), "--raw", "16x16@25", "--timeout", "3"], "--timeout"),
            (["encode", P("in.rgb"), P("n.wfl"), "--raw", "16x16@25", "--follow"], "--follow"),
        };
        foreach (var (args, named) in cases)
            AssertFails(2, Run([.. args, "--model", _small]), $"{named} has no effect");
        // info --input loads no model and reads no frames.
        AssertFails(2, Run("info", "--input", P("z.wfl"), "--fps", "24"), "--fps has no effect on a latent stream input");
        AssertFails(2, Run("info", "--input", P("z.wfl"), "--height", "64", "--width", "64"), "--height has no effect on info --input");
        AssertFails(2, Run("info", "--input", P("in.rgb"), "--raw", "16x16@25", "--frames", "2"), "--frames has no effect on info");
        AssertFails(2, Run("info", "--input", P("z.wfl"), "--model", _small), "not both");
        AssertFails(2, Run("info", "--model", _small, "--vf", "scale=8:8"), "--vf has no effect without --input");
        var info = Run("info", "--input", P("in.rgb"), "--raw", "16x16@25");
        Assert.True(info.Code == 0, info.Err);
        AssertFails(2, Run("decode", "--model", _small, P("z.wfl"), P("i.rgb"), "--raw", "rgb24", "--size", "8x8"), "unknown option '--size'");
        AssertFails(2, Run("decode", "--model", _small, P("z.wfl"), P("o.mp4"), "--policy", "drop"), "unknown option '--policy'");
        AssertFails(2, Run("decode", "--model", _small, P("z.wfl"), P("q.rgb"), "--raw", "32x32@24"), "the latents give the frame size and rate");
        AssertFails(2, Run("recon", "--model", _small, P("in.rgb"), "-"), "stdout only for raw input frames");
        // Said before any weights load: a model that is not there is not reached.
        AssertFails(2, Run("decode", "--model", P("no-model"), P("z.wfl"), P("j.mp4"), "--tensor", "mean"), "--tensor has no effect");
        AssertFails(2, Run("encode", "--model", P("no-model"), video, P("p.safetensors"), "--sample-seed", "abc"), "--sample-seed must be a non-negative integer");
        Assert.Equal(["in.rgb", "v.safetensors", "z.wfl"], Directory.GetFiles(_dir).Select(f => Path.GetFileName(f)!).Order().ToArray());
    }

    [Fact]
    public void OverflowingStreamDimensionsNameTheFile()
    {
        var enc = Run("encode", "--model", _small, "--input", VideoTensor("v.safetensors", 1, 16, 16), "--output", P("v.wfl"));
        Assert.True(enc.Code == 0, enc.Err);
        var bytes = File.ReadAllBytes(P("v.wfl"));
        int n = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(12));
        var json = JsonNode.Parse(Encoding.UTF8.GetString(bytes, 16, n))!;
        (json["video_width"], json["latent_width"]) = (2147483640, 268435455);
        var text = Encoding.UTF8.GetBytes(json.ToJsonString());
        var header = new byte[16 + text.Length + 4];
        bytes.AsSpan(0, 12).CopyTo(header);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(12), (uint)text.Length);
        text.CopyTo(header, 16);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(16 + text.Length), Crc32.HashToUInt32(header.AsSpan(0, 16 + text.Length)));
        File.WriteAllBytes(P("huge.wfl"), [.. header, .. bytes[(16 + n + 4)..]]);
        AssertFails(1, Run("info", "--input", P("huge.wfl")), "huge.wfl");
        AssertFails(1, Run("decode", "--model", _small, "--input", P("huge.wfl"), "--raw", "rgb24", "--output", P("o.rgb")), "huge.wfl");
    }

    [Fact]
    public void PadIsHonouredForSafetensorsVideo()
    {
        var video = VideoTensor("odd.safetensors", 5, 12, 20);
        AssertFails(1, Run("encode", "--model", _small, "--input", video, "--output", P("z.wfl")), "frames are 20x12");
        var enc = Run("encode", "--model", _small, "--input", video, "--output", P("z.wfl"), "--pad");
        Assert.True(enc.Code == 0, enc.Err);
        var dec = Run("decode", "--model", _small, "--input", P("z.wfl"), "--output", P("v.safetensors"));
        Assert.True(dec.Code == 0, dec.Err);
        using var f = SafetensorsFile.Open(P("v.safetensors"));
        Assert.Equal(new long[] { 1, 3, 5, 12, 20 }, f.Tensors["decoded"].Shape);
    }

    [Fact]
    public void ATruncatedRawInputWithPadReportsItsOwnFrameSize()
    {
        File.WriteAllBytes(P("cut.rgb"), new byte[2 * 12 * 12 * 3 + 10]);
        AssertFails(1, Run("encode", "--model", _small, "--input", P("cut.rgb"), "--raw", "12x12@25", "--pad", "--output", P("c.wfl")),
            "10 bytes after 2 complete frames, but a frame is 432 bytes");
    }

    [Fact]
    public void ReconOfRawFramesToAVideoNameWritesAVideo()
    {
        File.WriteAllBytes(P("in.rgb"), Enumerable.Range(0, 5 * 16 * 16 * 3).Select(i => (byte)(i % 251)).ToArray());
        var r = Run("recon", "--model", _small, "--raw", "16x16@25", P("in.rgb"), P("out.mp4"));
        Assert.True(r.Code == 0, r.Err);
        var probe = MediaTools.ProbeStream(P("out.mp4"), "v:0", "-count_frames");
        Assert.Equal("16", probe["width"]);
        Assert.Equal("5", probe["nb_read_frames"]);
    }
}

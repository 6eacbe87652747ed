using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using WfVae.Cli;
using WfVae.Media;
using WfVae.Streaming.LatentStream;
using WfVae.Tests.Media;
using Xunit;

namespace WfVae.Tests.Cli;

/// <summary>
/// wfvae on real video: files, URLs and raw pipes between real ffmpeg processes (ffmpeg/ffprobe as
/// producers and oracles), with the golden tiny checkpoint on tiny clips so each case takes seconds.
/// </summary>
public sealed class VideoCliTests : IDisposable
{
    private static readonly string Model = Path.Combine(TestPaths.Golden("tiny"), "model.safetensors");
    private readonly string _dir = Directory.CreateTempSubdirectory("wfvae-video-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string P(string name) => Path.Combine(_dir, name);

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = CommandLine.Run(["" + args[0], "--model", Model, .. args[1..]], o, e);
        return (code, o.ToString(), e.ToString());
    }

    /// <summary>testsrc2 clip made by the ffmpeg CLI (H.264 in MP4): deterministic, moving content.</summary>
    private string Clip(string name, int w, int h, int frames = 9)
    {
        var path = P(name);
        MediaTools.Run("ffmpeg", "-f", "lavfi", "-i", $"testsrc2=size={w}x{h}:rate=12", "-frames:v", $"{frames}", "-pix_fmt", "yuv420p", path);
        return path;
    }

    private static void AssertVideo(string path, int w, int h, string rate, int frames)
    {
        var s = MediaTools.ProbeStream(path, "v:0", "-count_frames");
        Assert.Equal((w.ToString(), h.ToString(), rate), (s["width"], s["height"], s["r_frame_rate"]));
        Assert.Equal(frames.ToString(), s["nb_read_frames"]);
    }

    private static double Printed(string text, string metric) =>
        double.Parse(Regex.Match(text, metric + @" ([-0-9.]+)").Groups[1].Value, CultureInfo.InvariantCulture);

    /// <summary>
    /// Damage costs frames without failing a call: refused packets (MP4 media data zeroed) or a demuxer resynchronising
    /// (Matroska clusters zeroed, FFmpeg's log the only witness); either ends with a warning, not silently.
    /// </summary>
    [Theory]
    [InlineData("mp4", "the decoder refused [1-9]")]
    [InlineData("mkv", "FFmpeg reported [1-9]\\d* error\\(s\\) while reading it \\(first: \"[^\"]+\"\\)")]
    public void A_damaged_video_is_read_as_far_as_it_goes_and_said_to_be_damaged(string container, string evidence)
    {
        var clip = Clip($"whole.{container}", 64, 64, frames: 17);
        var whole = Run("encode", "--input", clip, "--output", P("whole.wfl"));
        Assert.True(whole.Code == 0, whole.Err);
        Assert.DoesNotContain("damaged", whole.Err);

        // Zeroes after the key frame: 60-75 % of MP4's media data (no faststart: mdat before moov), of a Matroska file.
        var bytes = File.ReadAllBytes(clip);
        int start = 0, size = bytes.Length;
        if (container == "mp4")
        {
            start = System.Text.Encoding.ASCII.GetString(bytes).IndexOf("mdat", StringComparison.Ordinal) + 4;
            size = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(start - 8)) - 8;
        }
        Array.Clear(bytes, start + size * 3 / 5, size * 3 / 20);
        var damagedPath = P($"damaged.{container}");
        File.WriteAllBytes(damagedPath, bytes);
        var damaged = Run("encode", "--input", damagedPath, "--output", P("damaged.wfl"));
        Assert.True(damaged.Code == 0, damaged.Err);
        var line = Assert.Single(damaged.Err.Split('\n'), l => l.Contains("damaged"));
        Assert.Matches($@"'.*damaged\.{container}' is damaged: .*{evidence}.*; the damage was skipped .*: \d+ frames were read", line);
    }

    [Fact]
    public void A_portrait_phone_clip_is_read_upright_unless_told_otherwise()
    {
        var clip = Clip("landscape.mp4", 64, 32);
        var portrait = P("portrait.mp4");
        MediaTools.Run("ffmpeg", "-i", clip, "-c", "copy", "-metadata:s:v:0", "rotate=90", portrait);
        static (int Code, string Out, string Err) Info(params string[] args)
        {
            var (o, e) = (new StringWriter(), new StringWriter());
            return (CommandLine.Run(["info", .. args], o, e), o.ToString(), e.ToString());
        }
        var upright = Info("--input", portrait);
        Assert.True(upright.Code == 0, upright.Err);
        Assert.Contains("turned 270 degrees upright by its display matrix", upright.Out);
        Assert.Contains("frames: 32x64", upright.Out);
        var stored = Info("--input", portrait, "--no-autorotate");
        Assert.True(stored.Code == 0, stored.Err);
        Assert.Contains("frames: 64x32", stored.Out);
        Assert.DoesNotContain("turned", stored.Out);
    }

    [Fact]
    public void Encode_decode_and_recon_keep_frame_count_size_and_rate()
    {
        var clip = Clip("clip.mp4", 32, 32);
        var enc = Run("encode", "--input", clip, "--output", P("z.wfl"));
        Assert.True(enc.Code == 0, enc.Err);
        using (var r = LatentStreamReader.Open(P("z.wfl")))
        {
            Assert.Equal((12, 1), (r.Header.FrameRateNum, r.Header.FrameRateDen)); // the source rate is recorded
            Assert.Equal(3, r.ReadChunks().Sum(c => c.Frames));
            Assert.Equal(9, r.Trailer!.VideoFrames);
        }
        var dec = Run("decode", "--input", P("z.wfl"), "--output", P("dec.mp4"));
        Assert.True(dec.Code == 0, dec.Err);
        AssertVideo(P("dec.mp4"), 32, 32, "12/1", 9);

        var recon = Run("recon", "--input", clip, "--output", P("recon.mp4"), "--stats", P("recon.json"));
        Assert.True(recon.Code == 0, recon.Err);
        AssertVideo(P("recon.mp4"), 32, 32, "12/1", 9);
        Assert.Matches(@"PSNR [0-9.]+ dB, SSIM -?[0-9.]+ \(mean over 9 frames\)", recon.Out);
        using var stats = JsonDocument.Parse(File.ReadAllText(P("recon.json")));
        Assert.Equal(9, stats.RootElement.GetProperty("frames_out").GetInt64());
        Assert.Equal(Printed(recon.Out, "PSNR"), stats.RootElement.GetProperty("psnr_db").GetDouble(), 2);

        // 10 frames: the pad policy completes the last group and the output still has 10, reported.
        var ten = Clip("ten.mp4", 32, 32, frames: 10);
        var padded = Run("recon", ten, P("ten-out.mp4"));
        Assert.True(padded.Code == 0, padded.Err);
        Assert.Contains("padded 3 frames", padded.Out);
        AssertVideo(P("ten-out.mp4"), 32, 32, "12/1", 10);
    }

    [Fact]
    public void Recon_metrics_pair_each_output_frame_with_its_input_frame()
    {
        // Raw in and out (lossless), so the test can recompute the metrics; a frame-pairing slip changes them.
        var clip = Clip("clip.mp4", 32, 32);
        MediaTools.Run("ffmpeg", "-i", clip, "-f", "rawvideo", "-pix_fmt", "rgb24", P("in.rgb"));
        var recon = Run("recon", "--input", P("in.rgb"), "--raw", "32x32@12", "--output", P("out.rgb"));
        Assert.True(recon.Code == 0, recon.Err);
        var a = Frames(P("in.rgb"), 32 * 32 * 3);
        var b = Frames(P("out.rgb"), 32 * 32 * 3);
        Assert.Equal(9, b.Count);
        Assert.Equal(ImageMetrics.MeanPsnr(a, b), Printed(recon.Out, "PSNR"), 2);
        Assert.Equal(ImageMetrics.MeanSsim(a, b, 32, 32), Printed(recon.Out, "SSIM"), 4);

        // Streaming recon equals encode then decode.
        Assert.Equal(0, Run("encode", P("in.rgb"), P("z.wfl"), "--raw", "32x32@12").Code);
        Assert.Equal(0, Run("decode", P("z.wfl"), P("dec.rgb"), "--raw", "rgb24").Code);
        Assert.Equal(File.ReadAllBytes(P("dec.rgb")), File.ReadAllBytes(P("out.rgb")));
    }

    [Fact]
    public void Recon_of_planar_float_frames_into_a_video_scores_each_frame_in_its_own_layout()
    {
        // f32 in, a video file out: inputs are planar floats, the written frames RGB24 (once read as floats: exit 1).
        var clip = Clip("clip.mp4", 32, 32);
        MediaTools.Run("ffmpeg", "-i", clip, "-f", "rawvideo", "-pix_fmt", "rgb24", P("in.rgb"));
        var rgb = File.ReadAllBytes(P("in.rgb"));
        int frameBytes = 3 * 32 * 32;
        var planar = new float[rgb.Length];
        for (int i = 0; i < rgb.Length / frameBytes; i++)
            WfVae.Model.PixelMapping.ToPlanar(rgb.AsSpan(i * frameBytes, frameBytes), planar.AsSpan(i * frameBytes, frameBytes), 32 * 32);
        File.WriteAllBytes(P("in.f32"), System.Runtime.InteropServices.MemoryMarshal.AsBytes(planar.AsSpan()).ToArray());
        var fromFloats = Run("recon", P("in.f32"), P("f.mkv"), "--raw", "f32", "--size", "32x32", "--fps", "12");
        Assert.True(fromFloats.Code == 0, fromFloats.Err);
        AssertVideo(P("f.mkv"), 32, 32, "12/1", 9);
        var fromBytes = Run("recon", P("in.rgb"), P("b.mkv"), "--raw", "32x32@12");
        Assert.True(fromBytes.Code == 0, fromBytes.Err);
        Assert.Equal(Printed(fromBytes.Out, "PSNR"), Printed(fromFloats.Out, "PSNR"), 2);
    }

    private static List<byte[]> Frames(string path, int size)
    {
        var bytes = File.ReadAllBytes(path);
        return Enumerable.Range(0, bytes.Length / size).Select(i => bytes.AsSpan(i * size, size).ToArray()).ToList();
    }

    [Fact]
    public void Sizes_not_a_multiple_of_8_are_refused_or_padded_and_cropped_back()
    {
        var clip = Clip("odd.mp4", 36, 28);
        var refused = Run("recon", clip, P("refused.mp4"));
        Assert.Equal(1, refused.Code);
        Assert.Single(refused.Err.Trim().Split('\n'));
        Assert.Contains("36x28", refused.Err);
        Assert.Contains("--pad", refused.Err);
        Assert.Contains("--vf scale=32:24", refused.Err);
        Assert.False(File.Exists(P("refused.mp4")));

        var recon = Run("recon", clip, P("recon.mp4"), "--pad");
        Assert.True(recon.Code == 0, recon.Err);
        AssertVideo(P("recon.mp4"), 36, 28, "12/1", 9);

        // Through a latent stream: the source size travels in the .wfl, decode crops back to it.
        Assert.Equal(0, Run("encode", clip, P("odd.wfl"), "--pad").Code);
        using (var r = LatentStreamReader.Open(P("odd.wfl")))
            Assert.Equal((40, 32, 36, 28), (r.Header.VideoWidth, r.Header.VideoHeight, r.Header.OutputSize.Width, r.Header.OutputSize.Height));
        var dec = Run("decode", P("odd.wfl"), P("dec.mp4"));
        Assert.True(dec.Code == 0, dec.Err);
        AssertVideo(P("dec.mp4"), 36, 28, "12/1", 9);
    }

    [Fact]
    public void Video_filter_runs_before_the_vae()
    {
        var clip = Clip("clip.mp4", 32, 32);
        var recon = Run("recon", clip, P("small.mp4"), "--vf", "scale=16:16,fps=6");
        Assert.True(recon.Code == 0, recon.Err);
        // Oracle: ffprobe running the same graph when it shares the loaded libavfilter (the fps filter's rounding
        // at the end changed after 5.1), else WfVae.Media's own reader with that graph.
        int frames;
        if (MediaTools.CliHasLoadedLibrary("libavfilter"))
            frames = int.Parse(MediaTools.ProbeStream($"movie={clip},scale=16:16,fps=6", "v:0", "-f", "lavfi", "-count_frames")["nb_read_frames"]);
        else
        {
            using var reader = WfVae.Media.VideoReader.Open(clip, new WfVae.Media.VideoReaderOptions { VideoFilter = "scale=16:16,fps=6" });
            frames = reader.ReadFrames().Count();
        }
        AssertVideo(P("small.mp4"), 16, 16, "6/1", frames);
    }

    [Fact]
    public async Task Reads_a_live_udp_mpegts_stream_on_loopback()
    {
        int port;
        using (var probe = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0))) port = ((IPEndPoint)probe.Client.LocalEndPoint!).Port;
        var url = $"udp://127.0.0.1:{port}";
        // wfvae binds first; the stream ends at 16 frames, or 10 s after the sender stops (--timeout: also how long
        // the open waits for the first packet, which a loaded machine can delay by seconds).
        var recon = Task.Run(() => Run("recon", url, P("live.mp4"), "--timeout", "10", "--frames", "16"));
        await Task.Delay(500);
        // 48 frames in real time (4 s), a keyframe every 4 frames so a late start still decodes; exits by itself.
        // Twice the frames the reader takes, so a reader that binds late still gets its 16 and ends at once.
        using var sender = MediaTools.Start("ffmpeg", "-re", "-f", "lavfi", "-i", "testsrc2=size=32x32:rate=12", "-frames:v", "48",
            "-c:v", "libx264", "-g", "4", "-bf", "0", "-pix_fmt", "yuv420p", "-f", "mpegts", url + "?pkt_size=1316");
        try
        {
            var (code, output, err) = await recon.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.True(code == 0, err);
            int frames = int.Parse(Regex.Match(output, @"(\d+) frames in").Groups[1].Value);
            Assert.InRange(frames, 8, 16);
            AssertVideo(P("live.mp4"), 32, 32, "12/1", frames);
        }
        finally
        {
            if (!sender.WaitForExit(10_000)) sender.Kill();
        }
    }

    [Fact]
    public void A_followed_file_that_stops_growing_ends_with_every_frame_drained_from_the_decoder()
    {
        // H.264 with B-frames keeps frames inside the decoder; the end of a live input must not lose them.
        var ts = P("growing.ts");
        MediaTools.Run("ffmpeg", "-f", "lavfi", "-i", "testsrc2=size=32x32:rate=12", "-frames:v", "9", "-c:v", "libx264", "-bf", "2",
            "-pix_fmt", "yuv420p", "-f", "mpegts", ts);
        var (code, output, err) = Run("recon", ts, P("followed.mp4"), "--follow", "--timeout", "1");
        Assert.True(code == 0, err);
        Assert.Contains("9 frames in", output);
        Assert.Contains("the stream ended after 9 frames", err);
        AssertVideo(P("followed.mp4"), 32, 32, "12/1", 9);
    }

    /// <summary>Runs a bash pipeline with pipefail: every process in it must succeed.</summary>
    private static void Pipeline(string script)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("set -euo pipefail; " + script);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEndAsync();
        if (!p.WaitForExit(60_000)) { p.Kill(true); Assert.Fail($"pipeline timed out: {script}"); }
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"pipeline failed ({p.ExitCode}): {script}\n{err.Result}{output.Result}");
    }

    [Fact]
    public void Filters_raw_frames_between_two_ffmpeg_processes()
    {
        var clip = Clip("clip.mp4", 32, 32);
        var wfvae = $"dotnet '{Path.Combine(AppContext.BaseDirectory, "wfvae.dll")}' ";
        const string ff = "ffmpeg -hide_banner -nostdin -loglevel error -y ";
        Pipeline($"{ff} -i '{clip}' -f rawvideo -pix_fmt rgb24 - | {wfvae} recon --model '{Model}' --raw 32x32@12 - " +
                 $"| {ff} -f rawvideo -pix_fmt rgb24 -s 32x32 -r 12 -i - '{P("out.mp4")}'");
        AssertVideo(P("out.mp4"), 32, 32, "12/1", 9);

        // Latent output from the pipe.
        Pipeline($"{ff} -i '{clip}' -f rawvideo -pix_fmt rgb24 - | {wfvae} encode --model '{Model}' --raw 32x32@12 - --output '{P("x.wfl")}'");
        using var r = LatentStreamReader.Open(P("x.wfl"));
        Assert.Equal((32, 32, 12), (r.Header.VideoWidth, r.Header.VideoHeight, r.Header.FrameRateNum));
        Assert.Equal(3, r.ReadChunks().Sum(c => c.Frames));
        Assert.Equal(9, r.Trailer!.VideoFrames);
    }

    [Fact]
    public void Bad_inputs_and_outputs_give_one_line_and_leave_no_output()
    {
        var clip = Clip("clip.mp4", 32, 32);
        File.WriteAllText(P("notes.txt"), "this is not a video\n");
        File.WriteAllText(P("file"), "a file where a folder should be\n");
        var cases = new (string[] Args, string Output, string Expect)[]
        {
            (["recon", P("missing.mp4"), P("a.mp4")], P("a.mp4"), "No such file"),
            (["encode", P("notes.txt"), P("b.wfl")], P("b.wfl"), "notes.txt"),
            (["recon", clip, P("no-such-folder/c.mp4")], P("no-such-folder/c.mp4"), "c.mp4"),
            (["encode", clip, P("file/d.wfl")], P("file/d.wfl"), "d.wfl"),
            (["recon", P("notes.txt"), P("e.rgb"), "--raw", "yuv420p", "--size", "32x32"], P("e.rgb"), "yuv420p"),
        };
        foreach (var (args, output, expect) in cases)
        {
            var (code, _, err) = Run(args);
            Assert.True(code != 0, $"{string.Join(' ', args)} succeeded");
            Assert.Single(err.Trim().Split('\n'));
            Assert.StartsWith($"wfvae {args[0]}: ", err);
            Assert.Contains(expect, err);
            Assert.False(File.Exists(output), $"{output} was left behind");
        }

        var noModel = CommandLine.Run(["recon", "--model", P("missing-model"), clip, P("f.mp4")], new StringWriter(), new StringWriter());
        Assert.Equal(1, noModel);
        Assert.Empty(Directory.GetFiles(_dir, "*.partial", SearchOption.AllDirectories));
        Assert.Empty(Directory.GetFiles(_dir, ".*"));
    }
}

using System.IO.Pipes;
using System.Net;
using System.Net.Sockets;
using WfVae.Media;
using Xunit;

namespace WfVae.Tests.Media;

public sealed class VideoReaderTests(MediaClips clips) : IClassFixture<MediaClips>
{
    [Fact]
    public void Reads_a_file_with_size_rate_format_and_frame_count()
    {
        using var reader = VideoReader.Open(clips.Mp4);
        Assert.Equal((64, 48), (reader.Width, reader.Height));
        Assert.Equal((64, 48), (reader.SourceWidth, reader.SourceHeight));
        Assert.Equal((12, 1), (reader.FrameRate.Num, reader.FrameRate.Den));
        Assert.Equal("yuv420p", reader.PixelFormatName);
        Assert.Equal("h264", reader.CodecName);
        var frames = reader.ReadFrames().ToList();
        Assert.Equal(9, frames.Count);
        Assert.Equal(9, reader.FramesRead);
        Assert.False(reader.ReadFrame(new byte[reader.FrameBytes]));

        // Pixels agree with the ffmpeg CLI's own RGB24 decode using the same swscale flags.
        var cli = clips.DecodeWithCli(clips.Mp4, 64, 48, "bicubic+accurate_rnd+full_chroma_int");
        Assert.Equal(9, cli.Count);
        var psnr = ImageMetrics.PsnrPerFrame(frames, cli);
        Assert.True(psnr.All(p => p > 40), $"PSNR vs ffmpeg CLI: {string.Join(", ", psnr.Select(p => p.ToString("F1")))} dB");
        Assert.NotEqual(frames[0], frames[8]); // testsrc2 moves: real, distinct frames
    }

    /// <summary>
    /// Colour tags change the RGB24 frames as they do in the ffmpeg CLI: the same coded planes tagged BT.709 (HD
    /// camera footage), and 10-bit planes tagged full range (no "J" pixel format says it there).
    /// </summary>
    [Theory]
    [InlineData("yuv420p", "matrix_coefficients=1:colour_primaries=1:transfer_characteristics=1")]
    [InlineData("yuv420p10le", "video_full_range_flag=1")]
    public void Colour_matrix_and_range_tags_are_applied_as_the_ffmpeg_cli_applies_them(string pixFmt, string tags)
    {
        var plain = clips.File($"plain-{pixFmt}.mp4");
        MediaTools.Run("ffmpeg", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12", "-frames:v", "5", "-pix_fmt", pixFmt, "-c:v", "libx264", "-crf", "10", plain);
        var tagged = clips.File($"tagged-{pixFmt}.mp4");
        MediaTools.Run("ffmpeg", "-i", plain, "-c", "copy", "-bsf:v", $"h264_metadata={tags}", tagged);

        List<byte[]> Read(string path) { using var r = VideoReader.Open(path); return r.ReadFrames().ToList(); }
        var asPlain = Read(plain);
        var asTagged = Read(tagged);
        double apart = ImageMetrics.MeanPsnr(asPlain, asTagged);
        Assert.True(apart < 35, $"the tags changed nothing ({apart:F1} dB between the two reads)");
        foreach (var (path, frames) in new[] { (plain, asPlain), (tagged, asTagged) })
        {
            var psnr = ImageMetrics.PsnrPerFrame(frames, clips.DecodeWithCli(path, 64, 48, "bicubic+accurate_rnd+full_chroma_int"));
            Assert.True(psnr.All(p => p > 45), $"{Path.GetFileName(path)} vs ffmpeg CLI: {string.Join(", ", psnr.Select(p => p.ToString("F1")))} dB");
        }
    }

    /// <summary>A phone's portrait clip (a display matrix on the stream) comes out upright, as the ffmpeg CLI shows it.</summary>
    [Theory]
    [InlineData(90)]
    [InlineData(180)]
    [InlineData(270)]
    public void Display_rotation_is_applied_as_the_ffmpeg_cli_applies_it(int rotate)
    {
        var rotated = clips.File($"rotate{rotate}.mp4");
        MediaTools.Run("ffmpeg", "-i", clips.Mp4, "-c", "copy", "-metadata:s:v:0", $"rotate={rotate}", rotated);
        using var reader = VideoReader.Open(rotated);
        Assert.Equal((64, 48), (reader.SourceWidth, reader.SourceHeight));
        Assert.Equal(rotate == 180 ? (64, 48) : (48, 64), (reader.Width, reader.Height));
        Assert.Equal((360 - rotate) % 360, reader.Rotation); // the tag says how the stored frames are turned; the reader turns them back
        var frames = reader.ReadFrames().ToList();
        var psnr = ImageMetrics.PsnrPerFrame(frames, clips.DecodeWithCli(rotated, reader.Width, reader.Height, "bicubic+accurate_rnd+full_chroma_int"));
        Assert.True(psnr.All(p => p > 45), $"vs ffmpeg CLI: {string.Join(", ", psnr.Select(p => p.ToString("F1")))} dB");
    }

    /// <summary>A mirroring display matrix (a front camera's) is undone by a flip, not a half turn, as the ffmpeg tool does it.</summary>
    [Fact]
    public void A_mirroring_display_matrix_is_undone_by_a_flip()
    {
        // The track header's matrix (ISO 14496-12 tkhd, version 0: 40 bytes in) set to x' = -x + width.
        var bytes = File.ReadAllBytes(clips.Mp4);
        int tkhd = System.Text.Encoding.ASCII.GetString(bytes).IndexOf("tkhd", StringComparison.Ordinal) - 4;
        Assert.Equal(0, bytes[tkhd + 8]); // version 0
        var matrix = bytes.AsSpan(tkhd + 48, 36);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(matrix, -0x10000);                 // a = -1
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(matrix[24..], 64 << 16);           // tx = width
        var mirrored = clips.File("mirrored.mp4");
        File.WriteAllBytes(mirrored, bytes);

        List<byte[]> Read(string path, out int rotation)
        {
            using var r = VideoReader.Open(path);
            Assert.Equal((64, 48), (r.Width, r.Height));
            rotation = r.Rotation;
            return r.ReadFrames().ToList();
        }
        var plain = Read(clips.Mp4, out _);
        var flipped = Read(mirrored, out int turned);
        Assert.Equal(180, turned); // the matrix's angle; the flip's signs pick hflip alone
        var unmirrored = flipped.Select(f => Mirror(f, 64, 48)).ToList();
        double psnr = ImageMetrics.MeanPsnr(plain, unmirrored);
        Assert.True(psnr > 40, $"mirrored back vs plain: {psnr:F1} dB");
        Assert.True(ImageMetrics.MeanPsnr(plain, flipped) < 25); // testsrc2 is not symmetric: the flip happened
    }

    private static byte[] Mirror(byte[] rgb, int w, int h)
    {
        var o = new byte[rgb.Length];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                rgb.AsSpan((y * w + x) * 3, 3).CopyTo(o.AsSpan((y * w + (w - 1 - x)) * 3, 3));
        return o;
    }

    /// <summary>A stream whose frame size changes mid-way keeps the first size: later frames are scaled to it.</summary>
    [Fact]
    public void A_mid_stream_size_change_keeps_the_first_size()
    {
        var small = clips.File("small.ts");
        MediaTools.Run("ffmpeg", "-f", "lavfi", "-i", "testsrc2=size=32x32:rate=12", "-frames:v", "5", "-pix_fmt", "yuv420p", "-c:v", "libx264", small);
        var joined = clips.File("joined.ts");
        File.WriteAllBytes(joined, [.. File.ReadAllBytes(clips.Ts), .. File.ReadAllBytes(small)]);
        using var reader = VideoReader.Open(joined);
        Assert.Equal((64, 48), (reader.Width, reader.Height));
        var frames = reader.ReadFrames().ToList();
        Assert.Equal(9 + 5, frames.Count);
        Assert.All(frames, f => Assert.Equal(64 * 48 * 3, f.Length));
    }

    [Fact]
    public void Filter_graph_changes_size_and_rate()
    {
        using var reader = VideoReader.Open(clips.Mp4, new VideoReaderOptions { VideoFilter = "scale=32:32,fps=6" });
        Assert.Equal((32, 32), (reader.Width, reader.Height));
        Assert.Equal((64, 48), (reader.SourceWidth, reader.SourceHeight));
        Assert.Equal((6, 1), (reader.FrameRate.Num, reader.FrameRate.Den));
        int count = reader.ReadFrames().Count();

        // Oracle: the same graph run by ffprobe through the movie source, when ffprobe runs the same libavfilter
        // (the fps filter's end-of-stream rounding changed between releases; build.ps1 ffmpeg-test loads others).
        var probe = MediaTools.ProbeStream($"movie={clips.Mp4},scale=32:32,fps=6", "v:0", "-f", "lavfi", "-count_frames");
        if (MediaTools.CliHasLoadedLibrary("libavfilter")) Assert.Equal(int.Parse(probe["nb_read_frames"]), count);
        Assert.InRange(count, 4, 6); // 0.75 s at 6 fps
    }

    [Fact]
    public void Picks_the_video_stream_of_a_file_with_audio()
    {
        using var reader = VideoReader.Open(clips.AudioVideo);
        Assert.Equal((64, 48), (reader.Width, reader.Height));
        Assert.Equal(12, reader.ReadFrames().Count());
    }

    [Fact]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "xUnit1031", Justification = "bounded waits on helper tasks are the point: a hung reader must fail the test, not hang it")]
    public void Reads_a_pipe()
    {
        // pipe:N reads file descriptor N; FFmpeg 5.1 does not close it (checked), the test does.
        using var server = new AnonymousPipeServerStream(PipeDirection.Out, HandleInheritability.None);
        var fd = server.ClientSafePipeHandle.DangerousGetHandle();
        var bytes = File.ReadAllBytes(clips.Ts);
        var feed = Task.Run(() => { try { server.Write(bytes); } finally { server.Dispose(); } });
        int count;
        using (var reader = VideoReader.Open($"pipe:{fd}"))
        {
            Assert.Equal((64, 48), (reader.Width, reader.Height));
            count = reader.ReadFrames().Count();
        }
        Assert.True(feed.Wait(TimeSpan.FromSeconds(10)));
        Assert.Equal(9, count);
    }

    [Fact]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "xUnit1031", Justification = "bounded waits on helper tasks are the point: a hung reader must fail the test, not hang it")]
    public void Reads_a_udp_mpegts_stream_on_loopback()
    {
        int port;
        using (var probe = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0))) port = ((IPEndPoint)probe.Client.LocalEndPoint!).Port;
        var url = $"udp://127.0.0.1:{port}";
        // Bind first (Open blocks until the stream is probed); timeout (µs) bounds the test if nothing arrives.
        var open = Task.Run(() => VideoReader.Open(url, new VideoReaderOptions { InputOptions = new Dictionary<string, string> { ["timeout"] = "10000000" } }));
        Thread.Sleep(300);
        // 36 frames at 12 fps in real time (3 s), keyframe every 4 frames so joining late still decodes; exits by itself.
        using var sender = MediaTools.Start("ffmpeg", "-re", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12", "-frames:v", "36",
            "-c:v", "libx264", "-g", "4", "-bf", "0", "-pix_fmt", "yuv420p", "-f", "mpegts", url + "?pkt_size=1316");
        try
        {
            Assert.True(open.Wait(TimeSpan.FromSeconds(20)), "udp input did not open");
            using var reader = open.Result;
            Assert.Equal((64, 48), (reader.Width, reader.Height));
            var buffer = new byte[reader.FrameBytes];
            int n = 0;
            while (n < 8 && reader.ReadFrame(buffer)) n++;
            Assert.Equal(8, n);
        }
        finally
        {
            if (!sender.WaitForExit(10_000)) sender.Kill();
        }
    }

    [Fact]
    public void Missing_file_is_a_MediaException_naming_it()
    {
        var path = clips.File("no-such-clip.mp4");
        var e = Assert.Throws<MediaException>(() => VideoReader.Open(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("No such file", e.Message);
    }

    [Fact]
    public void Unreadable_and_non_video_inputs_are_MediaExceptions_naming_them()
    {
        var text = Assert.Throws<MediaException>(() => VideoReader.Open(clips.Text));
        Assert.Contains(clips.Text, text.Message);
        var audio = Assert.Throws<MediaException>(() => VideoReader.Open(clips.AudioOnly));
        Assert.Contains(clips.AudioOnly, audio.Message);
        Assert.Contains("no decodable video stream", audio.Message);
    }

    [Fact]
    public void A_truncated_file_gives_the_frames_it_still_holds_as_ffprobe_counts_them()
    {
        // moov first, so a cut-off file still opens; its last packet is partial: a damaged frame while draining.
        var whole = clips.File("faststart.mp4");
        MediaTools.Run("ffmpeg", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12", "-frames:v", "33", "-pix_fmt", "yuv420p",
            "-c:v", "libx264", "-movflags", "+faststart", whole);
        var bytes = System.IO.File.ReadAllBytes(whole);
        foreach (int percent in new[] { 75, 90 })
        {
            var cut = clips.File($"cut{percent}.mp4");
            System.IO.File.WriteAllBytes(cut, bytes[..(bytes.Length * percent / 100)]);
            int expected = int.Parse(MediaTools.ProbeStream(cut, "v:0", "-count_frames")["nb_read_frames"]);
            using var reader = VideoReader.Open(cut);
            Assert.Equal(expected, reader.ReadFrames().Count());
        }

        // Cut inside the first frame: nothing decodes (ffprobe counts none either), which is said as such.
        var first = clips.File("cut50.mp4");
        System.IO.File.WriteAllBytes(first, bytes[..(bytes.Length / 2)]);
        Assert.Equal("N/A", MediaTools.ProbeStream(first, "v:0", "-count_frames")["nb_read_frames"]);
        var e = Assert.Throws<MediaException>(() => VideoReader.Open(first));
        Assert.Contains("no video frame could be decoded", e.Message);
    }

    [Fact]
    public void Bad_filter_or_format_is_a_MediaException()
    {
        var e = Assert.Throws<MediaException>(() => VideoReader.Open(clips.Mp4, new VideoReaderOptions { VideoFilter = "nosuchfilter=1" }));
        Assert.Contains("nosuchfilter", e.Message);
        Assert.Contains(clips.Mp4, e.Message);
        var f = Assert.Throws<MediaException>(() => VideoReader.Open(clips.Mp4, new VideoReaderOptions { InputFormat = "nosuchformat" }));
        Assert.Contains("nosuchformat", f.Message);
    }
}

using WfVae.Media;
using Xunit;

namespace WfVae.Tests.Media;

public sealed class VideoWriterTests(MediaClips clips) : IClassFixture<MediaClips>
{
    private List<byte[]> SourceFrames()
    {
        using var reader = VideoReader.Open(clips.Mp4);
        return reader.ReadFrames().ToList();
    }

    [Fact]
    public void Written_h264_mp4_reads_back_with_ffprobe_and_VideoReader()
    {
        var frames = SourceFrames();
        var path = clips.File("written.mp4");
        using (var writer = VideoWriter.Create(path, 64, 48, (12, 1)))
        {
            Assert.Equal("libx264", writer.CodecName);
            foreach (var f in frames) writer.WriteFrame(f);
            Assert.False(File.Exists(path)); // only the temporary file exists until Complete
            Assert.True(File.Exists(writer.TemporaryPath));
            writer.Complete();
            Assert.False(File.Exists(writer.TemporaryPath));
        }
        var probe = MediaTools.ProbeStream(path, "v:0", "-count_frames");
        Assert.Equal("h264", probe["codec_name"]);
        Assert.Equal(("64", "48"), (probe["width"], probe["height"]));
        Assert.Equal("12/1", probe["r_frame_rate"]);
        Assert.Equal("12/1", probe["avg_frame_rate"]);
        Assert.Equal("9", probe["nb_read_frames"]);
        Assert.Equal("yuv420p", probe["pix_fmt"]);
        Assert.Equal(("smpte170m", "tv"), (probe["color_space"], probe["color_range"])); // the matrix and range written, said

        using var reader = VideoReader.Open(path);
        Assert.Equal((64, 48, 12, 1), (reader.Width, reader.Height, reader.FrameRate.Num, reader.FrameRate.Den));
        var back = reader.ReadFrames().ToList();
        Assert.Equal(9, back.Count);
        var psnr = ImageMetrics.MeanPsnr(frames, back);
        Assert.True(psnr > 30, $"round-trip PSNR {psnr:F1} dB");
        Assert.True(ImageMetrics.MeanSsim(frames, back, 64, 48) > 0.9);
    }

    [Fact]
    public void Other_codec_container_odd_size_and_rational_rate()
    {
        // mpeg4 has no crf: the fixed-quantiser path; 30000/1001 in Matroska; an odd size picks yuv444p for x264.
        var frames = SourceFrames();
        var mkv = clips.File("mpeg4.mkv");
        using (var writer = VideoWriter.Create(mkv, 64, 48, (30000, 1001), new VideoWriterOptions { Codec = "mpeg4" }))
        {
            foreach (var f in frames) writer.WriteFrame(f);
            writer.Complete();
        }
        var probe = MediaTools.ProbeStream(mkv, "v:0", "-count_frames");
        Assert.Equal(("mpeg4", "30000/1001", "9"), (probe["codec_name"], probe["r_frame_rate"], probe["nb_read_frames"]));
        using (var reader = VideoReader.Open(mkv))
            Assert.True(ImageMetrics.MeanPsnr(frames, reader.ReadFrames().ToList()) > 30);

        var odd = clips.File("odd.mp4");
        var cropped = frames.Select(f => FrameConversion.CropRgb24(f, 64, 48, 63, 47)).ToList();
        using (var writer = VideoWriter.Create(odd, 63, 47, (8, 1)))
        {
            Assert.Equal("yuv444p", writer.PixelFormatName);
            foreach (var f in cropped) writer.WriteFrame(f);
            writer.Complete();
        }
        using (var reader = VideoReader.Open(odd))
        {
            Assert.Equal((63, 47, 8), (reader.Width, reader.Height, reader.FrameRate.Num));
            Assert.True(ImageMetrics.MeanPsnr(cropped, reader.ReadFrames().ToList()) > 30);
        }
    }

    [Fact]
    public void An_encoder_that_takes_neither_default_pixel_format_gets_its_own_closest_one()
    {
        // gif takes palettes and 8-bit RGB only (rgb8, closest to RGB24 among what swscale writes); mpeg4 4:2:0 only.
        var frames = SourceFrames();
        var gif = clips.File("written.gif");
        using (var writer = VideoWriter.Create(gif, 64, 48, (12, 1)))
        {
            Assert.Equal(("gif", "rgb8"), (writer.CodecName, writer.PixelFormatName));
            foreach (var f in frames) writer.WriteFrame(f);
            writer.Complete();
        }
        var probe = MediaTools.ProbeStream(gif, "v:0", "-count_frames");
        Assert.Equal(("gif", "9"), (probe["codec_name"], probe["nb_read_frames"]));
        using (var reader = VideoReader.Open(gif))
            Assert.True(ImageMetrics.MeanPsnr(frames, reader.ReadFrames().ToList()) > 15); // 3-3-2 bits per pixel

        using var odd = VideoWriter.Create(clips.File("odd-mpeg4.mkv"), 64, 47, (12, 1), new VideoWriterOptions { Codec = "mpeg4" });
        Assert.Equal("yuv420p", odd.PixelFormatName); // its only format, though 47 rows halve unevenly
        // A format named by the caller is kept, and refused by the encoder by name.
        var named = Assert.Throws<MediaException>(() => VideoWriter.Create(clips.File("named.gif"), 64, 48, (12, 1), new VideoWriterOptions { PixelFormat = "yuv420p" }));
        Assert.Contains("cannot open encoder gif (yuv420p", named.Message);
    }

    [Fact]
    public void A_container_that_refuses_h264_gets_its_own_codec_unless_one_is_named()
    {
        // Y4M does not declare its codecs; it refuses H.264 at the header and takes raw frames (wrapped_avframe).
        var frames = SourceFrames();
        var y4m = clips.File("written.y4m");
        using (var writer = VideoWriter.Create(y4m, 64, 48, (12, 1)))
        {
            Assert.Equal("wrapped_avframe", writer.CodecName);
            foreach (var f in frames) writer.WriteFrame(f);
            writer.Complete();
        }
        var probe = MediaTools.ProbeStream(y4m, "v:0", "-count_frames");
        Assert.Equal(("rawvideo", "yuv420p", "9"), (probe["codec_name"], probe["pix_fmt"], probe["nb_read_frames"]));
        using (var reader = VideoReader.Open(y4m))
            Assert.True(ImageMetrics.MeanPsnr(frames, reader.ReadFrames().ToList()) > 30);

        // An image sequence would be written by the muxer itself, file by file, outside the atomic output: refused.
        var pattern = clips.File("frame_%03d.png");
        var seq = Assert.Throws<MediaException>(() => VideoWriter.Create(pattern, 64, 48, (12, 1)));
        Assert.Contains("image sequences are not written", seq.Message);
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(pattern)!, "frame_*"));

        var named = clips.File("named.y4m");
        var e = Assert.Throws<MediaException>(() => VideoWriter.Create(named, 64, 48, (12, 1), new VideoWriterOptions { Codec = "libx264" }));
        Assert.Contains("named.y4m", e.Message);
        Assert.False(File.Exists(named));
    }

    [Fact]
    public void Abandoned_output_leaves_nothing_and_keeps_an_existing_file()
    {
        var path = clips.File("abandoned.mp4");
        File.WriteAllText(path, "previous");
        var frame = SourceFrames()[0];
        string temp;
        using (var writer = VideoWriter.Create(path, 64, 48, (12, 1)))
        {
            temp = writer.TemporaryPath;
            writer.WriteFrame(frame);
            Assert.Throws<ArgumentException>(() => writer.WriteFrame(new byte[10]));
        }
        Assert.False(File.Exists(temp));
        Assert.Equal("previous", File.ReadAllText(path));
        Assert.Empty(Directory.GetFiles(clips.Dir, ".abandoned.mp4*"));
    }

    [Fact]
    public void Bad_codec_container_or_folder_is_a_MediaException()
    {
        var a = Assert.Throws<MediaException>(() => VideoWriter.Create(clips.File("x.mp4"), 64, 48, (12, 1), new VideoWriterOptions { Codec = "nosuchcodec" }));
        Assert.Contains("nosuchcodec", a.Message);
        var b = Assert.Throws<MediaException>(() => VideoWriter.Create(clips.File("x.nosuchext"), 64, 48, (12, 1)));
        Assert.Contains("x.nosuchext", b.Message);
        var c = Assert.Throws<MediaException>(() => VideoWriter.Create(clips.File("missing-dir/x.mp4"), 64, 48, (12, 1)));
        Assert.Contains("folder", c.Message);
        Assert.Empty(Directory.GetFiles(clips.Dir, ".x.*"));
    }
}

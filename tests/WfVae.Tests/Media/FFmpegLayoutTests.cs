using System.Runtime.InteropServices;
using WfVae.Media;
using WfVae.Media.FFmpeg;
using Xunit;
using static WfVae.Media.FFmpeg.Native;

namespace WfVae.Tests.Media;

/// <summary>
/// The version check, and the raw struct offsets of <see cref="FFmpegLayout"/> checked against the running
/// libraries: each field is compared with an independent oracle (AVOptions on a context filled from the
/// field, ffprobe's report of the same file, values FFmpeg's own allocators accept and fill in).
/// </summary>
public sealed unsafe class FFmpegLayoutTests(MediaClips clips) : IClassFixture<MediaClips>
{
    [Fact]
    public void Loaded_versions_are_reported_and_belong_to_a_supported_release()
    {
        var versions = FFmpegLibrary.LoadedVersions;
        Assert.Equal(FFmpegLibrary.LibraryNames, versions.Select(v => v.Library));
        var release = FFmpegLibrary.Release;
        Assert.Contains(release, FFmpegLibrary.SupportedReleases);
        foreach (var v in versions) Assert.Equal(release.MajorOf(v.Library), v.Major);
        // Oracle: the files the process mapped (Linux) are the versions reported, from WFVAE_FFMPEG_DIR when set.
        if (OperatingSystem.IsLinux())
        {
            var maps = File.ReadAllLines("/proc/self/maps").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Where(p => p.Length >= 6).Select(p => p[5]).ToHashSet();
            var dir = Environment.GetEnvironmentVariable("WFVAE_FFMPEG_DIR");
            foreach (var v in versions)
            {
                var mapped = maps.Where(m => Path.GetFileName(m).StartsWith(v.Library + ".so.")).ToList();
                Assert.True(mapped.Count == 1, $"{v.Library}: mapped {string.Join(", ", mapped)}");
                Assert.EndsWith($"{v.Library}.so.{v.Major}.{v.Minor}.{v.Micro}", mapped[0]);
                if (dir is { Length: > 0 }) Assert.StartsWith(Path.GetFullPath(dir), mapped[0]);
            }
        }
        // Without WFVAE_FFMPEG_DIR the system's libraries are loaded: the ffmpeg CLI reports the same libavformat.
        if (Environment.GetEnvironmentVariable("WFVAE_FFMPEG_DIR") is not { Length: > 0 })
        {
            var banner = MediaTools.Run("ffmpeg", "-version");
            var avformat = versions.Single(v => v.Library == "libavformat");
            Assert.Matches($@"libavformat\s+{avformat.Major}\.\s*{avformat.Minor}\.", banner);
        }
    }

    [Fact]
    public void Every_supported_release_has_one_layout_and_is_recognised_by_its_majors()
    {
        var supported = FFmpegLibrary.SupportedReleases;
        Assert.Equal(["FFmpeg 9.x", "FFmpeg 8.x", "FFmpeg 7.x", "FFmpeg 5.x"], supported.Select(r => r.Name));
        foreach (var release in supported)
        {
            var versions = FFmpegLibrary.LibraryNames.Select(l => new FFmpegLibraryVersion(l, (uint)release.MajorOf(l) << 16 | 2 << 8 | 100)).ToList();
            Assert.Same(release, FFmpegLibrary.CheckVersions(versions, supported));
            Assert.StartsWith(FFmpegLibrary.LayoutOf(release).Release[..1], release.Name["FFmpeg ".Length..]);
        }
        Assert.Equal(supported.Count, supported.Select(r => FFmpegLibrary.LayoutOf(r)).Distinct().Count());
    }

    [Fact]
    public void Libraries_of_two_supported_releases_are_refused_naming_each_library_and_version()
    {
        var supported = FFmpegLibrary.SupportedReleases;
        var five = supported.Single(r => r.Name == "FFmpeg 5.x");
        var seven = supported.Single(r => r.Name == "FFmpeg 7.x");
        // An FFmpeg 5.1 libavutil beside the rest of 7.1: every library is supported somewhere, together by none.
        var mixed = FFmpegLibrary.LibraryNames.Select(l => new FFmpegLibraryVersion(l,
            l == "libavutil" ? (uint)five.AvUtil << 16 | 17 << 8 | 100 : (uint)seven.MajorOf(l) << 16 | 3 << 8 | 101)).ToList();
        var e = Assert.Throws<MediaException>(() => FFmpegLibrary.CheckVersions(mixed, supported));
        Assert.Contains("different FFmpeg releases", e.Message);
        Assert.Contains($"libavutil {five.AvUtil}.17.100", e.Message);
        foreach (var l in FFmpegLibrary.LibraryNames.Where(l => l != "libavutil")) Assert.Contains($"{l} {seven.MajorOf(l)}.3.101", e.Message);
        // FFmpeg 6.x is known but not supported: refused naming the supported majors, as any other release.
        var six = FFmpegLibrary.LibraryNames.Select(l => new FFmpegLibraryVersion(l, (uint)(seven.MajorOf(l) - 1) << 16)).ToList();
        var s = Assert.Throws<MediaException>(() => FFmpegLibrary.CheckVersions(six, supported));
        Assert.Contains($"libavformat {seven.AvFormat - 1}.0.0 is not supported", s.Message);
    }

    [Fact]
    public void Check_refuses_an_unsupported_major_naming_library_found_and_supported_versions()
    {
        var supported = FFmpegLibrary.SupportedReleases;
        var good = FFmpegLibrary.LibraryNames.Select(l => new FFmpegLibraryVersion(l, (uint)supported[0].MajorOf(l) << 16 | 1 << 8 | 100)).ToList();
        Assert.Equal(supported[0], FFmpegLibrary.CheckVersions(good, supported));

        var fake = good.Select(v => v.Library == "libavformat" ? new FFmpegLibraryVersion(v.Library, 60u << 16 | 3 << 8 | 100) : v).ToList();
        var e = Assert.Throws<MediaException>(() => FFmpegLibrary.CheckVersions(fake, supported));
        Assert.Contains("libavformat 60.3.100", e.Message);
        Assert.Contains($"{supported[0].AvFormat} ({supported[0].Name})", e.Message);
        Assert.DoesNotContain("libavcodec", e.Message);

        // Two majors that are each supported somewhere but not together: a mixed installation.
        var other = new FFmpegRelease("FFmpeg 6.x", 58, 60, 60, 9, 7);
        var mixed = good.Select(v => v.Library == "libavcodec" ? new FFmpegLibraryVersion(v.Library, 60u << 16) : v).ToList();
        var m = Assert.Throws<MediaException>(() => FFmpegLibrary.CheckVersions(mixed, [supported[0], other]));
        Assert.Contains("different FFmpeg releases", m.Message);
    }

    [Fact]
    public void Format_stream_and_packet_fields_agree_with_AVOptions_and_ffprobe()
    {
        FFmpegLibrary.EnsureLoaded();
        nint fmt = 0;
        Assert.True(avformat_open_input(&fmt, clips.AudioVideo, 0, null) >= 0);
        try
        {
            Assert.True(avformat_find_stream_info(fmt, null) >= 0);
            Assert.Equal(2, Fields.FormatNbStreams(fmt)); // AVFormatContext.nb_streams
            var packets = new int[2];
            for (int i = 0; i < 2; i++)
            {
                nint st = Fields.FormatStream(fmt, i); // AVFormatContext.streams
                Assert.Equal(i, Fields.StreamIndex(st)); // AVStream.index
                var probe = MediaTools.ProbeStream(clips.AudioVideo, $"{i}");
                Assert.Equal(probe["time_base"], Fields.StreamTimeBase(st).ToString()); // AVStream.time_base
            }

            // AVStream.codecpar: copied into a codec context, read back through AVOptions.
            nint video = Fields.FormatStream(fmt, 0);
            nint ctx = avcodec_alloc_context3(0);
            Assert.True(avcodec_parameters_to_context(ctx, Fields.StreamCodecpar(video)) >= 0);
            Assert.True(av_opt_get_image_size(ctx, "video_size", 0, out int w, out int h) >= 0);
            Assert.True(av_opt_get_pixel_fmt(ctx, "pixel_format", 0, out int pix) >= 0);
            Assert.Equal((64, 48, "yuv420p"), (w, h, Marshal.PtrToStringUTF8(av_get_pix_fmt_name(pix))));
            avcodec_free_context(&ctx);

            // AVPacket.stream_index: packets per stream as ffprobe counts them.
            nint pkt = av_packet_alloc();
            while (av_read_frame(fmt, pkt) >= 0) { packets[Fields.PacketStreamIndex(pkt)]++; av_packet_unref(pkt); }
            av_packet_free(&pkt);
            for (int i = 0; i < 2; i++)
                Assert.Equal(MediaTools.ProbeStream(clips.AudioVideo, $"{i}", "-count_packets")["nb_read_packets"], packets[i].ToString());
        }
        finally { avformat_close_input(&fmt); }
    }

    [Fact]
    public void Frame_fields_agree_with_av_frame_get_buffer()
    {
        FFmpegLibrary.EnsureLoaded();
        nint f = av_frame_alloc();
        try
        {
            int yuv420p = av_get_pix_fmt("yuv420p");
            Fields.SetFrameGeometry(f, 37, 21, yuv420p);
            // av_frame_get_buffer reads width, height and format (EINVAL if any is unset) and fills data/linesize.
            Assert.True(av_frame_get_buffer(f, 32) >= 0);
            Assert.Equal((37, 21, yuv420p), (Fields.FrameWidth(f), Fields.FrameHeight(f), Fields.FrameFormat(f)));
            Assert.Equal(64, Fields.FrameLinesizeOf(f, 0));             // luma: 37 rounded up to the 32-byte alignment
            Assert.Equal(32, Fields.FrameLinesizeOf(f, 1));             // chroma: ceil(37/2) = 19 -> 32
            Assert.Equal(32, Fields.FrameLinesizeOf(f, 2));
            Assert.Equal(0, Fields.FrameLinesizeOf(f, 3));
            for (int i = 0; i < 3; i++) Assert.True(Fields.FramePlane(f, i) != null);
            Assert.True(Fields.FramePlane(f, 3) == null);
            Fields.SetFramePts(f, 123456789012L);
            Assert.Equal(123456789012L, Fields.FramePts(f));
        }
        finally { av_frame_free(&f); }

        // A frame the decoder filled in: VideoReader's source geometry and format come from AVFrame fields.
        using var reader = VideoReader.Open(clips.Mp4);
        Assert.Equal((64, 48, "yuv420p"), (reader.SourceWidth, reader.SourceHeight, reader.PixelFormatName));
    }

    [Fact]
    public void Output_format_flags_field_matches_known_muxers()
    {
        FFmpegLibrary.EnsureLoaded();
        // AVFMT_GLOBALHEADER: MP4 and Matroska want codec headers in the container, MPEG-TS in-band.
        Assert.NotEqual(0, Fields.OutputFormatFlags(av_guess_format("mp4", null, null)) & AVFMT_GLOBALHEADER);
        Assert.NotEqual(0, Fields.OutputFormatFlags(av_guess_format("matroska", null, null)) & AVFMT_GLOBALHEADER);
        Assert.Equal(0, Fields.OutputFormatFlags(av_guess_format("mpegts", null, null)) & AVFMT_GLOBALHEADER);
        // AVFMT_NOFILE (1): the null muxer opens no file, mp4 does.
        Assert.NotEqual(0, Fields.OutputFormatFlags(av_guess_format("null", null, null)) & 1);
        Assert.Equal(0, Fields.OutputFormatFlags(av_guess_format("mp4", null, null)) & 1);
    }
}

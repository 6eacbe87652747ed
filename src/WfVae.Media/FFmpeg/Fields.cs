namespace WfVae.Media.FFmpeg;

/// <summary>
/// Byte offsets of the few FFmpeg struct fields that have no accessor function or AVOption (x64, LP64 and
/// LLP64 agree here: no field involved sits after a C <c>long</c>). Everything else goes through functions
/// and AVOptions (codec context size / pixel format / time base / bit rate are set with av_opt_*).
/// One instance per supported FFmpeg release, the one place where releases differ (public struct layouts
/// only change at major versions, so one per major). The offsets are printed by eng/ffmpeg-layout.c
/// (<c>offsetof</c>) compiled against each release's headers (5.1: Debian 12's; 7.1, 8.1, 9.0: the builds
/// of build.ps1 ffmpeg-build) and re-checked against the running libraries by
/// tests/WfVae.Tests/Media/FFmpegLayoutTests.cs (oracles: av_opt_get_*, ffprobe, av_frame_get_buffer).
/// From 6.0 on AVStream starts with an AVClass pointer and codecpar moved up; AVFrame lost deprecated
/// fields before best_effort_timestamp in 7.0 and 8.0.
/// </summary>
internal sealed record FFmpegLayout(
    string Release,
    int FormatPb, int FormatNbStreams, int FormatStreams, // AVFormatContext
    int OutputFormatFlags,                                 // AVOutputFormat
    int StreamIndex, int StreamTimeBase, int StreamAvgFrameRate, int StreamCodecpar, // AVStream
    int PacketStreamIndex, int PacketDuration,             // AVPacket
    int FrameData, int FrameLinesize, int FrameWidth, int FrameHeight, int FrameFormat, int FramePts, int FrameBestEffortTimestamp, // AVFrame
    int InOutName, int InOutFilterCtx, int InOutPadIdx, int InOutNext, // AVFilterInOut
    int CodecName, int CodecPixFmts)                       // AVCodec; CodecPixFmts -1: listed by avcodec_get_supported_config
{
    /// <summary>FFmpeg 5.1 (avformat 59, avcodec 59, avutil 57, avfilter 8, swscale 6).</summary>
    public static readonly FFmpegLayout FFmpeg5 = new(
        "5.x",
        FormatPb: 32, FormatNbStreams: 44, FormatStreams: 48,
        OutputFormatFlags: 44,
        StreamIndex: 0, StreamTimeBase: 16, StreamAvgFrameRate: 72, StreamCodecpar: 208,
        PacketStreamIndex: 36, PacketDuration: 64,
        FrameData: 0, FrameLinesize: 64, FrameWidth: 104, FrameHeight: 108, FrameFormat: 116, FramePts: 136, FrameBestEffortTimestamp: 344,
        InOutName: 0, InOutFilterCtx: 8, InOutPadIdx: 16, InOutNext: 24,
        CodecName: 0, CodecPixFmts: 40);

    /// <summary>FFmpeg 7.1 (avformat 61, avcodec 61, avutil 59, avfilter 10, swscale 8).</summary>
    public static readonly FFmpegLayout FFmpeg7 = new(
        "7.x",
        FormatPb: 32, FormatNbStreams: 44, FormatStreams: 48,
        OutputFormatFlags: 44,
        StreamIndex: 8, StreamTimeBase: 32, StreamAvgFrameRate: 88, StreamCodecpar: 16,
        PacketStreamIndex: 36, PacketDuration: 64,
        FrameData: 0, FrameLinesize: 64, FrameWidth: 104, FrameHeight: 108, FrameFormat: 116, FramePts: 136, FrameBestEffortTimestamp: 320,
        InOutName: 0, InOutFilterCtx: 8, InOutPadIdx: 16, InOutNext: 24,
        CodecName: 0, CodecPixFmts: -1);

    /// <summary>FFmpeg 8.1 (avformat 62, avcodec 62, avutil 60, avfilter 11, swscale 9).</summary>
    public static readonly FFmpegLayout FFmpeg8 = new(
        "8.x",
        FormatPb: 32, FormatNbStreams: 44, FormatStreams: 48,
        OutputFormatFlags: 44,
        StreamIndex: 8, StreamTimeBase: 32, StreamAvgFrameRate: 88, StreamCodecpar: 16,
        PacketStreamIndex: 36, PacketDuration: 64,
        FrameData: 0, FrameLinesize: 64, FrameWidth: 104, FrameHeight: 108, FrameFormat: 116, FramePts: 136, FrameBestEffortTimestamp: 304,
        InOutName: 0, InOutFilterCtx: 8, InOutPadIdx: 16, InOutNext: 24,
        CodecName: 0, CodecPixFmts: -1);

    /// <summary>FFmpeg 9.0 (avformat 63, avcodec 63, avutil 61, avfilter 12, swscale 10): the same offsets as 8.1.</summary>
    public static readonly FFmpegLayout FFmpeg9 = FFmpeg8 with { Release = "9.x" };
}

/// <summary>Typed reads and writes of the fields in <see cref="FFmpegLayout"/> for the loaded libraries.</summary>
internal static unsafe class Fields
{
    private static FFmpegLayout L => FFmpegLibrary.Layout;

    private static T Get<T>(nint p, int offset) where T : unmanaged => *(T*)((byte*)p + offset);
    private static void Set<T>(nint p, int offset, T value) where T : unmanaged => *(T*)((byte*)p + offset) = value;

    // AVFormatContext
    public static nint* FormatPbAddress(nint fmt) => (nint*)((byte*)fmt + L.FormatPb);
    public static int FormatNbStreams(nint fmt) => (int)Get<uint>(fmt, L.FormatNbStreams);
    public static nint FormatStream(nint fmt, int i) => ((nint*)Get<nint>(fmt, L.FormatStreams))[i];

    // AVOutputFormat
    public static int OutputFormatFlags(nint ofmt) => Get<int>(ofmt, L.OutputFormatFlags);

    // AVStream
    public static int StreamIndex(nint st) => Get<int>(st, L.StreamIndex);
    public static AVRational StreamTimeBase(nint st) => Get<AVRational>(st, L.StreamTimeBase);
    public static void SetStreamTimeBase(nint st, AVRational tb) => Set(st, L.StreamTimeBase, tb);
    public static AVRational StreamAvgFrameRate(nint st) => Get<AVRational>(st, L.StreamAvgFrameRate);
    public static void SetStreamAvgFrameRate(nint st, AVRational rate) => Set(st, L.StreamAvgFrameRate, rate);
    public static nint StreamCodecpar(nint st) => Get<nint>(st, L.StreamCodecpar);

    // AVPacket
    public static int PacketStreamIndex(nint pkt) => Get<int>(pkt, L.PacketStreamIndex);
    public static void SetPacketStreamIndex(nint pkt, int i) => Set(pkt, L.PacketStreamIndex, i);
    public static long PacketDuration(nint pkt) => Get<long>(pkt, L.PacketDuration);
    public static void SetPacketDuration(nint pkt, long duration) => Set(pkt, L.PacketDuration, duration);

    // AVFrame
    public static nint FrameData(nint f) => f + L.FrameData;       // uint8_t *data[8]
    public static nint FrameLinesize(nint f) => f + L.FrameLinesize; // int linesize[8]
    public static byte* FramePlane(nint f, int i) => ((byte**)FrameData(f))[i];
    public static int FrameLinesizeOf(nint f, int i) => ((int*)FrameLinesize(f))[i];
    public static int FrameWidth(nint f) => Get<int>(f, L.FrameWidth);
    public static int FrameHeight(nint f) => Get<int>(f, L.FrameHeight);
    public static int FrameFormat(nint f) => Get<int>(f, L.FrameFormat);
    public static void SetFrameGeometry(nint f, int width, int height, int format)
    {
        Set(f, L.FrameWidth, width); Set(f, L.FrameHeight, height); Set(f, L.FrameFormat, format);
    }
    public static long FramePts(nint f) => Get<long>(f, L.FramePts);
    public static void SetFramePts(nint f, long pts) => Set(f, L.FramePts, pts);
    public static long FrameBestEffortTimestamp(nint f) => Get<long>(f, L.FrameBestEffortTimestamp);

    // AVFilterInOut (name must be av_malloc'ed: avfilter_inout_free frees it)
    public static void SetInOut(nint io, nint avName, nint filterCtx, int padIdx, nint next)
    {
        Set(io, L.InOutName, avName); Set(io, L.InOutFilterCtx, filterCtx); Set(io, L.InOutPadIdx, padIdx); Set(io, L.InOutNext, next);
    }

    // AVPixFmtDescriptor (unchanged from 5.1 to 9.0: name, nb_components, log2_chroma_w/h, then the 64-bit flags)
    /// <summary>A format with colour components stored as luma and chroma (yuv*, nv12, p010, yuyv422...), not RGB, palette or gray.</summary>
    public static bool IsYuv(int pixFmt)
    {
        nint d = Native.av_pix_fmt_desc_get(pixFmt);
        if (d == 0 || Get<byte>(d, 8) < 3) return false;
        return (Get<ulong>(d, 16) & (Native.AV_PIX_FMT_FLAG_RGB | Native.AV_PIX_FMT_FLAG_PAL)) == 0;
    }

    // AVCodec
    /// <summary>AVCodec.pix_fmts (ends at AV_PIX_FMT_NONE; NULL: any) in releases whose layout reads it, else null.</summary>
    public static int* CodecPixFmts(nint codec) => L.CodecPixFmts >= 0 ? (int*)Get<nint>(codec, L.CodecPixFmts) : null;
    public static string CodecName(nint codec) => System.Runtime.InteropServices.Marshal.PtrToStringUTF8(Get<nint>(codec, L.CodecName)) ?? "?";
}

using System.Runtime.InteropServices;

namespace WfVae.Media.FFmpeg;

/// <summary>AVRational: two ints, passed and returned by value (8 bytes, in one register on x64).</summary>
[StructLayout(LayoutKind.Sequential)]
public readonly record struct AVRational(int Num, int Den)
{
    public double ToDouble() => Den == 0 ? 0 : (double)Num / Den;
    public override string ToString() => $"{Num}/{Den}";
}

/// <summary>
/// P/Invoke declarations for the libav* functions this project uses, written from the FFmpeg 5.1 public
/// headers; every one exists with the same signature in 7.1, 8.1 and 9.0 (checked against their headers). Pointers to FFmpeg objects are plain <see cref="nint"/>: the objects are opaque here and the few
/// fields that are read or written go through <see cref="Fields"/>. The library names are logical
/// ("avformat", ...) and mapped to versioned file names by <see cref="FFmpegLibrary"/>'s resolver, so this
/// file is the only place that would change when swapping in FFmpeg.AutoGen.
/// </summary>
internal static unsafe partial class Native
{
    public const string AvUtil = "avutil", AvCodec = "avcodec", AvFormat = "avformat", AvFilter = "avfilter", SwScale = "swscale";

    // ---- constants (the same in FFmpeg 5.1, 7.1, 8.1 and 9.0) ----
    public const int AVMEDIA_TYPE_VIDEO = 0;
    public const int AV_LOG_QUIET = -8;
    public const int AVIO_FLAG_WRITE = 2;
    public const int AVFMT_GLOBALHEADER = 0x0040;
    public const int AVFMT_NOFILE = 0x0001;
    public const int AVCOL_SPC_SMPTE170M = 6, AVCOL_RANGE_MPEG = 1; // enum AVColorSpace, AVColorRange (stable since FFmpeg 1.x)
    public const int AV_PKT_DATA_DISPLAYMATRIX = 5, AV_FRAME_DATA_DISPLAYMATRIX = 6; // side data types (stable)
    public const ulong AV_PIX_FMT_FLAG_PAL = 1 << 1, AV_PIX_FMT_FLAG_RGB = 1 << 5;
    public const int AV_BUFFERSRC_FLAG_KEEP_REF = 8;
    public const int AV_OPT_SEARCH_CHILDREN = 1;
    public const int SWS_BICUBIC = 4, SWS_FULL_CHR_H_INT = 0x2000, SWS_FULL_CHR_H_INP = 0x4000, SWS_ACCURATE_RND = 0x40000;
    public const long AV_NOPTS_VALUE = long.MinValue;
    public static readonly int AVERROR_EOF = -MkTag('E', 'O', 'F', ' ');
    public static readonly int AVERROR_OPTION_NOT_FOUND = -MkTag(0xF8, 'O', 'P', 'T');
    /// <summary>AVERROR(EAGAIN): FFmpeg negates the platform errno (35 on macOS, 11 on Linux and Windows).</summary>
    public static readonly int AVERROR_EAGAIN = OperatingSystem.IsMacOS() ? -35 : -11;

    private static int MkTag(int a, int b, int c, int d) => a | (b << 8) | (c << 16) | (d << 24);

    // ---- libavutil ----
    [LibraryImport(AvUtil)] public static partial uint avutil_version();
    [LibraryImport(AvUtil)] public static partial int av_strerror(int errnum, byte* errbuf, nuint errbufSize);
    [LibraryImport(AvUtil)] public static partial void av_log_set_level(int level);
    [LibraryImport(AvUtil)] public static partial void av_log_set_callback(delegate* unmanaged[Cdecl]<nint, int, nint, nint, void> callback);
    [LibraryImport(AvUtil)] public static partial int av_log_format_line2(nint avcl, int level, nint fmt, nint vl, byte* line, int lineSize, int* printPrefix);
    [LibraryImport(AvUtil)] public static partial nint av_frame_alloc();
    [LibraryImport(AvUtil)] public static partial void av_frame_free(nint* frame);
    [LibraryImport(AvUtil)] public static partial int av_frame_get_buffer(nint frame, int align);
    [LibraryImport(AvUtil)] public static partial int av_frame_make_writable(nint frame);
    [LibraryImport(AvUtil)] public static partial void av_frame_unref(nint frame);
    [LibraryImport(AvUtil)] public static partial nint av_frame_get_side_data(nint frame, int type);
    [LibraryImport(AvUtil)] public static partial double av_display_rotation_get(int[] matrix);
    [LibraryImport(AvUtil, StringMarshalling = StringMarshalling.Utf8)] public static partial int av_dict_set(nint* dict, string key, string value, int flags);
    [LibraryImport(AvUtil)] public static partial void av_dict_free(nint* dict);
    [LibraryImport(AvUtil, StringMarshalling = StringMarshalling.Utf8)] public static partial int av_opt_set(nint obj, string name, string val, int searchFlags);
    [LibraryImport(AvUtil, StringMarshalling = StringMarshalling.Utf8)] public static partial int av_opt_set_int(nint obj, string name, long val, int searchFlags);
    [LibraryImport(AvUtil, StringMarshalling = StringMarshalling.Utf8)] public static partial int av_opt_get_int(nint obj, string name, int searchFlags, out long val);
    [LibraryImport(AvUtil, StringMarshalling = StringMarshalling.Utf8)] public static partial int av_opt_set_q(nint obj, string name, AVRational val, int searchFlags);
    [LibraryImport(AvUtil, StringMarshalling = StringMarshalling.Utf8)] public static partial int av_opt_get_q(nint obj, string name, int searchFlags, out AVRational val);
    [LibraryImport(AvUtil, StringMarshalling = StringMarshalling.Utf8)] public static partial int av_opt_set_image_size(nint obj, string name, int w, int h, int searchFlags);
    [LibraryImport(AvUtil, StringMarshalling = StringMarshalling.Utf8)] public static partial int av_opt_get_image_size(nint obj, string name, int searchFlags, out int w, out int h);
    [LibraryImport(AvUtil, StringMarshalling = StringMarshalling.Utf8)] public static partial int av_opt_set_pixel_fmt(nint obj, string name, int fmt, int searchFlags);
    [LibraryImport(AvUtil, StringMarshalling = StringMarshalling.Utf8)] public static partial int av_opt_get_pixel_fmt(nint obj, string name, int searchFlags, out int fmt);
    [LibraryImport(AvUtil)] public static partial nint av_get_pix_fmt_name(int fmt);
    [LibraryImport(AvUtil)] public static partial nint av_pix_fmt_desc_get(int fmt);
    [LibraryImport(AvUtil, StringMarshalling = StringMarshalling.Utf8)] public static partial int av_get_pix_fmt(string name);
    [LibraryImport(AvUtil, StringMarshalling = StringMarshalling.Utf8)] public static partial nint av_strdup(string s);

    // ---- libavcodec ----
    [LibraryImport(AvCodec)] public static partial uint avcodec_version();
    [LibraryImport(AvCodec, StringMarshalling = StringMarshalling.Utf8)] public static partial nint avcodec_find_encoder_by_name(string name);
    [LibraryImport(AvCodec)] public static partial nint avcodec_find_encoder(int codecId);
    [LibraryImport(AvCodec)] public static partial nint avcodec_get_name(int codecId);
    [LibraryImport(AvCodec)] public static partial nint avcodec_alloc_context3(nint codec);
    [LibraryImport(AvCodec)] public static partial void avcodec_free_context(nint* ctx);
    [LibraryImport(AvCodec)] public static partial int avcodec_parameters_to_context(nint ctx, nint par);
    [LibraryImport(AvCodec)] public static partial int avcodec_parameters_from_context(nint par, nint ctx);
    [LibraryImport(AvCodec)] public static partial int avcodec_open2(nint ctx, nint codec, nint* options);
    [LibraryImport(AvCodec)] public static partial int avcodec_find_best_pix_fmt_of_list(int* list, int src, int hasAlpha, int* loss);
    /// <summary>FFmpeg 7.1 on (the successor of AVCodec.pix_fmts); config 0 is AV_CODEC_CONFIG_PIX_FORMAT.</summary>
    [LibraryImport(AvCodec)] public static partial int avcodec_get_supported_config(nint ctx, nint codec, int config, uint flags, nint* configs, int* count);
    [LibraryImport(AvCodec)] public static partial int avcodec_send_packet(nint ctx, nint pkt);
    [LibraryImport(AvCodec)] public static partial int avcodec_receive_frame(nint ctx, nint frame);
    [LibraryImport(AvCodec)] public static partial int avcodec_send_frame(nint ctx, nint frame);
    [LibraryImport(AvCodec)] public static partial int avcodec_receive_packet(nint ctx, nint pkt);
    [LibraryImport(AvCodec)] public static partial nint av_packet_alloc();
    [LibraryImport(AvCodec)] public static partial void av_packet_free(nint* pkt);
    [LibraryImport(AvCodec)] public static partial void av_packet_unref(nint pkt);
    [LibraryImport(AvCodec)] public static partial void av_packet_rescale_ts(nint pkt, AVRational src, AVRational dst);

    // ---- libavformat ----
    [LibraryImport(AvFormat)] public static partial uint avformat_version();
    [LibraryImport(AvFormat)] public static partial int avformat_network_init();
    [LibraryImport(AvFormat, StringMarshalling = StringMarshalling.Utf8)] public static partial nint av_find_input_format(string shortName);
    [LibraryImport(AvFormat, StringMarshalling = StringMarshalling.Utf8)] public static partial int avformat_open_input(nint* ctx, string url, nint fmt, nint* options);
    [LibraryImport(AvFormat)] public static partial int avformat_find_stream_info(nint ctx, nint* options);
    [LibraryImport(AvFormat)] public static partial int av_find_best_stream(nint ctx, int type, int wanted, int related, nint* decoder, int flags);
    [LibraryImport(AvFormat)] public static partial int av_read_frame(nint ctx, nint pkt);
    [LibraryImport(AvFormat)] public static partial void avformat_close_input(nint* ctx);
    [LibraryImport(AvFormat)] public static partial AVRational av_guess_frame_rate(nint ctx, nint stream, nint frame);
    [LibraryImport(AvFormat)] public static partial AVRational av_guess_sample_aspect_ratio(nint ctx, nint stream, nint frame);
    /// <summary>5.x only (removed in 8.0): from 7.0 the stream's side data reaches the decoded frames.</summary>
    [LibraryImport(AvFormat)] public static partial nint av_stream_get_side_data(nint stream, int type, nuint* size);
    [LibraryImport(AvFormat, StringMarshalling = StringMarshalling.Utf8)] public static partial nint av_guess_format(string? shortName, string? filename, string? mimeType);
    [LibraryImport(AvFormat, StringMarshalling = StringMarshalling.Utf8)] public static partial int av_guess_codec(nint oformat, string? shortName, string? filename, string? mimeType, int mediaType);
    [LibraryImport(AvFormat)] public static partial int avformat_query_codec(nint oformat, int codecId, int stdCompliance);
    [LibraryImport(AvFormat, StringMarshalling = StringMarshalling.Utf8)] public static partial int avformat_alloc_output_context2(nint* ctx, nint oformat, string? formatName, string? filename);
    [LibraryImport(AvFormat)] public static partial void avformat_free_context(nint ctx);
    [LibraryImport(AvFormat)] public static partial nint avformat_new_stream(nint ctx, nint codec);
    [LibraryImport(AvFormat, StringMarshalling = StringMarshalling.Utf8)] public static partial int avio_open(nint* pb, string url, int flags);
    [LibraryImport(AvFormat)] public static partial int avio_closep(nint* pb);
    [LibraryImport(AvFormat)] public static partial int avformat_write_header(nint ctx, nint* options);
    [LibraryImport(AvFormat)] public static partial int av_interleaved_write_frame(nint ctx, nint pkt);
    [LibraryImport(AvFormat)] public static partial int av_write_trailer(nint ctx);

    // ---- libswscale ----
    [LibraryImport(SwScale)] public static partial uint swscale_version();
    [LibraryImport(SwScale)] public static partial int sws_isSupportedInput(int fmt);
    [LibraryImport(SwScale)] public static partial int sws_isSupportedOutput(int fmt);
    [LibraryImport(SwScale)] public static partial nint sws_getContext(int srcW, int srcH, int srcFormat, int dstW, int dstH, int dstFormat,
        int flags, nint srcFilter, nint dstFilter, nint param);
    [LibraryImport(SwScale)] public static partial int sws_scale(nint ctx, nint srcSlice, nint srcStride, int srcSliceY, int srcSliceH, nint dst, nint dstStride);
    [LibraryImport(SwScale)] public static partial void sws_freeContext(nint ctx);

    // ---- libavfilter ----
    [LibraryImport(AvFilter)] public static partial uint avfilter_version();
    [LibraryImport(AvFilter)] public static partial nint avfilter_graph_alloc();
    [LibraryImport(AvFilter)] public static partial void avfilter_graph_free(nint* graph);
    [LibraryImport(AvFilter, StringMarshalling = StringMarshalling.Utf8)] public static partial nint avfilter_get_by_name(string name);
    [LibraryImport(AvFilter, StringMarshalling = StringMarshalling.Utf8)] public static partial int avfilter_graph_create_filter(nint* ctx, nint filter, string name, string? args, nint opaque, nint graph);
    [LibraryImport(AvFilter)] public static partial nint avfilter_inout_alloc();
    [LibraryImport(AvFilter)] public static partial void avfilter_inout_free(nint* inout);
    [LibraryImport(AvFilter, StringMarshalling = StringMarshalling.Utf8)] public static partial int avfilter_graph_parse_ptr(nint graph, string filters, nint* inputs, nint* outputs, nint logCtx);
    [LibraryImport(AvFilter)] public static partial int avfilter_graph_config(nint graph, nint logCtx);
    [LibraryImport(AvFilter)] public static partial int avfilter_link(nint src, uint srcPad, nint dst, uint dstPad);
    [LibraryImport(AvFilter)] public static partial int av_buffersrc_add_frame_flags(nint src, nint frame, int flags);
    [LibraryImport(AvFilter)] public static partial int av_buffersink_get_frame(nint sink, nint frame);
    [LibraryImport(AvFilter)] public static partial int av_buffersink_get_w(nint sink);
    [LibraryImport(AvFilter)] public static partial int av_buffersink_get_h(nint sink);
    [LibraryImport(AvFilter)] public static partial int av_buffersink_get_format(nint sink);
    [LibraryImport(AvFilter)] public static partial AVRational av_buffersink_get_frame_rate(nint sink);
}

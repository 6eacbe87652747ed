using System.Runtime.InteropServices;
using WfVae.Media.FFmpeg;
using static WfVae.Media.FFmpeg.Native;

namespace WfVae.Media;

public sealed record VideoWriterOptions
{
    /// <summary>
    /// Encoder name (<c>libx264</c>, <c>mpeg4</c>, <c>ffv1</c>, ...). Null: libx264 when present, else mpeg4, in
    /// containers that take H.264 or do not say (MPEG-TS); else, or when the container refuses them, the container's
    /// own default (Y4M: raw frames, WebM: VP9, Ogg: Theora, ...).
    /// </summary>
    public string? Codec { get; init; }

    /// <summary>Constant quality for encoders that have a <c>crf</c> option (x264/x265; lower is better, 18 is
    /// visually lossless). Encoders without it get a fixed quantiser (qscale 2) instead. Ignored when <see cref="BitRate"/> is set.</summary>
    public int Crf { get; init; } = 18;

    /// <summary>Target bit rate in bits/s (null: quality mode).</summary>
    public long? BitRate { get; init; }

    /// <summary>
    /// Encoder pixel format. Null: yuv420p, or yuv444p when a side is odd (4:2:0 needs even sizes), or where the encoder
    /// takes neither, its own format closest to RGB24 (<see cref="FFmpeg.EncoderFormats"/>).
    /// </summary>
    public string? PixelFormat { get; init; }

    /// <summary>Container short name (<c>mp4</c>, <c>matroska</c>, <c>mpegts</c>, ...). Null: from the file extension.</summary>
    public string? Format { get; init; }

    /// <summary>Further encoder options passed to avcodec_open2, e.g. <c>preset</c>=<c>veryfast</c>.</summary>
    public IReadOnlyDictionary<string, string>? CodecOptions { get; init; }
}

/// <summary>
/// Encodes packed RGB24 frames into a video file at a fixed frame rate, through
/// <see cref="WfVae.IO.OutputFile"/>: a regular file is written under a temporary name and renamed by
/// <see cref="Complete"/>; disposing without <see cref="Complete"/> (or after a failure) deletes it, so the
/// final name only ever holds a whole file. A FIFO or device is written in place.
/// Not thread-safe.
/// </summary>
public sealed unsafe class VideoWriter : IDisposable
{
    private nint _oc, _enc, _stream, _pkt, _rgbFrame, _encFrame, _sws;
    private AVRational _encTimeBase;
    private long _nextPts;
    private bool _completed, _failed, _disposed;
    private WfVae.IO.OutputFile? _output;

    public string Path { get; }
    /// <summary>The file being written until <see cref="Complete"/> (the temporary, or the FIFO or device itself).</summary>
    public string TemporaryPath => _output?.WritePath ?? Path;
    public int Width { get; }
    public int Height { get; }
    public AVRational FrameRate { get; }
    /// <summary>The encoder in use, e.g. <c>libx264</c>.</summary>
    public string CodecName { get; private set; } = "";
    public string PixelFormatName { get; private set; } = "";
    public long FramesWritten { get; private set; }
    public int FrameBytes => Width * Height * 3;

    private VideoWriter(string path, int width, int height, AVRational rate)
    {
        Path = System.IO.Path.GetFullPath(path);
        (Width, Height, FrameRate) = (width, height, rate);
    }

    public static VideoWriter Create(string path, int width, int height, (int Num, int Den) frameRate, VideoWriterOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        if (frameRate.Num <= 0 || frameRate.Den <= 0) throw new ArgumentOutOfRangeException(nameof(frameRate), $"frame rate {frameRate.Num}/{frameRate.Den} must be positive");
        FFmpegLibrary.EnsureLoaded();
        var o = options ?? new VideoWriterOptions();
        var writer = new VideoWriter(path, width, height, new AVRational(frameRate.Num, frameRate.Den));
        try { writer.Init(o); return writer; }
        catch (MediaException) when (o.Codec is null && writer._headerRefused && writer._muxerSilent
                                     && writer.ContainerEncoder is { } own && own != writer.CodecName)
        {
            // A container that does not say which codecs it takes (Y4M, Ogg, GIF) refused H.264: its own default then.
            writer.Dispose();
            return Create(path, width, height, frameRate, o with { Codec = own });
        }
        catch { writer.Dispose(); throw; }
    }

    /// <summary>The encoder of the container's default video codec, or null when FFmpeg has none.</summary>
    private string? ContainerEncoder { get; set; }
    private string _containerCodec = "?";
    private bool _muxerSilent, _headerRefused;

    private const int CodecH264 = 27, CodecMpeg4 = 12; // AVCodecID values, fixed in every FFmpeg release

    /// <summary>The encoders to try when none is named (see <see cref="VideoWriterOptions.Codec"/>).</summary>
    private string[] DefaultEncoders(nint oformat)
    {
        int id = av_guess_codec(oformat, null, Path, null, 0 /* AVMEDIA_TYPE_VIDEO */);
        _containerCodec = Marshal.PtrToStringUTF8(avcodec_get_name(id)) ?? "?";
        var own = avcodec_find_encoder(id);
        ContainerEncoder = own == 0 ? null : Fields.CodecName(own);
        int h264 = avformat_query_codec(oformat, CodecH264, 0); // 1: yes, 0: no, < 0: the muxer does not say
        _muxerSilent = h264 < 0;
        string[] usual = [.. new[] { ("libx264", h264), ("mpeg4", avformat_query_codec(oformat, CodecMpeg4, 0)) }.Where(c => c.Item2 != 0).Select(c => c.Item1)];
        return usual.Length > 0 || ContainerEncoder is null ? usual : [ContainerEncoder];
    }

    /// <summary>The encoder named by the options, else the first default FFmpeg has (see <see cref="DefaultEncoders"/>).</summary>
    private nint ChooseEncoder(VideoWriterOptions o, nint oformat)
    {
        var candidates = o.Codec is { Length: > 0 } c ? [c] : DefaultEncoders(oformat);
        foreach (var name in candidates)
            if (avcodec_find_encoder_by_name(name) is var codec and not 0) return codec;
        throw new MediaException(Fail(candidates.Length > 0
            ? $"encoder '{string.Join("/", candidates)}' is not available in this FFmpeg"
            : $"this container takes {_containerCodec}, for which this FFmpeg has no encoder; name one with --codec"));
    }

    /// <summary>
    /// Whether FFmpeg knows a video container for the file name (.mp4, .mkv, ...), other than raw frames
    /// (.rgb, .yuv): what decides, for a raw input, whether an output is a video file or raw frames.
    /// </summary>
    public static bool HasContainerFor(string path)
    {
        FFmpegLibrary.EnsureLoaded();
        var format = av_guess_format(null, path, null);
        // AVOutputFormat starts with its name in every FFmpeg release.
        return format != 0 && System.Runtime.InteropServices.Marshal.PtrToStringUTF8(*(nint*)format) is not (null or "rawvideo");
    }

    private string Fail(string what) => $"'{Path}': {what}";

    private WfVae.IO.OutputFile OpenOutput()
    {
        try { return WfVae.IO.OutputFile.Create(Path); }
        catch (IOException e) { throw new MediaException(Fail(e.Message)); }
    }

    private void Init(VideoWriterOptions o)
    {
        if (!Directory.Exists(System.IO.Path.GetDirectoryName(Path))) throw new MediaException(Fail("the folder does not exist"));
        nint oc = 0;
        int r = avformat_alloc_output_context2(&oc, 0, o.Format, Path);
        FFmpegError.Check(r, Fail(o.Format is null ? "no container format for this file extension" : $"unknown container format '{o.Format}'"));
        _oc = oc;

        var oformat = av_guess_format(o.Format, o.Format is null ? Path : null, null);
        // Image sequences (.png, .jpg: the image2 muxer) open their own files, outside the one atomic output file.
        if (oformat != 0 && (Fields.OutputFormatFlags(oformat) & AVFMT_NOFILE) != 0)
            throw new MediaException(Fail("image sequences are not written; write a video file (.mkv, .mp4, .y4m) or raw frames (--raw)"));
        nint codec = ChooseEncoder(o, oformat);
        CodecName = Fields.CodecName(codec);

        _enc = avcodec_alloc_context3(codec);
        if (_enc == 0) throw new OutOfMemoryException("avcodec_alloc_context3");
        PixelFormatName = o.PixelFormat ?? (Width % 2 == 0 && Height % 2 == 0 ? "yuv420p" : "yuv444p");
        int pixFmt = av_get_pix_fmt(PixelFormatName);
        if (pixFmt < 0) throw new MediaException(Fail($"unknown pixel format '{PixelFormatName}'"));
        if (o.PixelFormat == null && EncoderFormats.Choose(_enc, codec, pixFmt) is var chosen && chosen != pixFmt)
            (pixFmt, PixelFormatName) = (chosen, Marshal.PtrToStringUTF8(av_get_pix_fmt_name(chosen)) ?? chosen.ToString());
        _encTimeBase = new AVRational(FrameRate.Den, FrameRate.Num); // one tick per frame
        // Codec context fields are set through AVOptions (no struct offsets): video_size, pixel_format, time_base, b, flags.
        FFmpegError.Check(av_opt_set_image_size(_enc, "video_size", Width, Height, 0), Fail("video_size"));
        FFmpegError.Check(av_opt_set_pixel_fmt(_enc, "pixel_format", pixFmt, 0), Fail("pixel_format"));
        FFmpegError.Check(av_opt_set_q(_enc, "time_base", _encTimeBase, 0), Fail("time_base"));
        if (Fields.IsYuv(pixFmt))
        {
            // What swscale's RGB24 -> YUV wrote (its default: the BT.601 matrix, limited range), said in the stream:
            // untagged, players guess BT.709 for HD sizes and would shift every colour.
            FFmpegError.Check(av_opt_set_int(_enc, "colorspace", AVCOL_SPC_SMPTE170M, 0), Fail("colorspace"));
            FFmpegError.Check(av_opt_set_int(_enc, "color_range", AVCOL_RANGE_MPEG, 0), Fail("color_range"));
        }
        if (o.BitRate is long bitRate) FFmpegError.Check(av_opt_set_int(_enc, "b", bitRate, 0), Fail("bit rate"));
        else if (av_opt_set_int(_enc, "crf", o.Crf, AV_OPT_SEARCH_CHILDREN) == AVERROR_OPTION_NOT_FOUND)
        {
            // No crf (mpeg4, ...): fixed quantiser, global_quality = q * FF_QP2LAMBDA (118).
            FFmpegError.Check(av_opt_set(_enc, "flags", "+qscale", 0), Fail("flags"));
            FFmpegError.Check(av_opt_set_int(_enc, "global_quality", 2 * 118, 0), Fail("global_quality"));
        }
        if (oformat != 0 && (Fields.OutputFormatFlags(oformat) & AVFMT_GLOBALHEADER) != 0)
            FFmpegError.Check(av_opt_set(_enc, "flags", "+global_header", 0), Fail("flags"));

        nint dict = 0;
        foreach (var (k, v) in o.CodecOptions ?? new Dictionary<string, string>()) av_dict_set(&dict, k, v, 0);
        r = avcodec_open2(_enc, codec, &dict);
        av_dict_free(&dict);
        FFmpegError.Check(r, Fail($"cannot open encoder {CodecName} ({PixelFormatName} {Width}x{Height} at {FrameRate})"));
        av_opt_get_q(_enc, "time_base", 0, out _encTimeBase);

        _stream = avformat_new_stream(_oc, 0);
        if (_stream == 0) throw new OutOfMemoryException("avformat_new_stream");
        FFmpegError.Check(avcodec_parameters_from_context(Fields.StreamCodecpar(_stream), _enc), Fail("codec parameters"));
        Fields.SetStreamTimeBase(_stream, _encTimeBase); // a hint; the muxer may pick its own in write_header
        Fields.SetStreamAvgFrameRate(_stream, FrameRate); // e.g. Matroska's DefaultDuration

        _output = OpenOutput();
        FFmpegError.Check(avio_open(Fields.FormatPbAddress(_oc), TemporaryPath, AVIO_FLAG_WRITE), $"'{TemporaryPath}': cannot create");
        r = avformat_write_header(_oc, null);
        _headerRefused = r < 0;
        FFmpegError.CheckOutput(r, Fail("cannot write the container header"));

        AllocateFrames(pixFmt);
    }

    /// <summary>The packet, the RGB24 and encoder frames, and the converter between them.</summary>
    private void AllocateFrames(int pixFmt)
    {
        _pkt = av_packet_alloc(); _rgbFrame = av_frame_alloc(); _encFrame = av_frame_alloc();
        if (_pkt == 0 || _rgbFrame == 0 || _encFrame == 0) throw new OutOfMemoryException("av_packet_alloc/av_frame_alloc");
        int rgb24 = av_get_pix_fmt("rgb24");
        Fields.SetFrameGeometry(_rgbFrame, Width, Height, rgb24);
        Fields.SetFrameGeometry(_encFrame, Width, Height, pixFmt);
        FFmpegError.Check(av_frame_get_buffer(_rgbFrame, 0), Fail("frame buffer"));
        FFmpegError.Check(av_frame_get_buffer(_encFrame, 0), Fail("frame buffer"));
        _sws = sws_getContext(Width, Height, rgb24, Width, Height, pixFmt, SWS_BICUBIC | SWS_ACCURATE_RND, 0, 0, 0);
        if (_sws == 0) throw new MediaException(Fail($"cannot convert RGB24 to {PixelFormatName}"));
    }

    /// <summary>Encodes one packed RGB24 frame (<see cref="FrameBytes"/> bytes, rows top to bottom).</summary>
    public void WriteFrame(ReadOnlySpan<byte> rgb24)
    {
        EnsureWritable();
        if (rgb24.Length != FrameBytes) throw new ArgumentException($"frame has {rgb24.Length} bytes, {Width}x{Height} RGB24 needs {FrameBytes}", nameof(rgb24));
        try
        {
            FFmpegError.Check(av_frame_make_writable(_rgbFrame), Fail("frame buffer"));
            FFmpegError.Check(av_frame_make_writable(_encFrame), Fail("frame buffer"));
            byte* dst = Fields.FramePlane(_rgbFrame, 0);
            int stride = Fields.FrameLinesizeOf(_rgbFrame, 0), row = Width * 3;
            fixed (byte* src = rgb24)
                for (int y = 0; y < Height; y++)
                    Buffer.MemoryCopy(src + (long)y * row, dst + (long)y * stride, row, row);
            FFmpegError.Check(sws_scale(_sws, Fields.FrameData(_rgbFrame), Fields.FrameLinesize(_rgbFrame), 0, Height, Fields.FrameData(_encFrame), Fields.FrameLinesize(_encFrame)),
                Fail("pixel conversion failed"));
            Fields.SetFramePts(_encFrame, _nextPts++);
            FFmpegError.Check(avcodec_send_frame(_enc, _encFrame), Fail("encoding failed"));
            Drain();
        }
        catch { _failed = true; throw; }
        FramesWritten++;
    }

    /// <summary>Flushes the encoder, writes the trailer and renames the file to <see cref="Path"/>.</summary>
    public void Complete()
    {
        EnsureWritable();
        try
        {
            FFmpegError.Check(avcodec_send_frame(_enc, 0), Fail("flushing the encoder failed"));
            Drain();
            FFmpegError.CheckOutput(av_write_trailer(_oc), Fail("cannot write the container trailer"));
            FFmpegError.CheckOutput(avio_closep(Fields.FormatPbAddress(_oc)), Fail("cannot close the output"));
            _output!.Commit();
        }
        catch { _failed = true; throw; }
        _completed = true;
    }

    private void Drain()
    {
        var streamTimeBase = Fields.StreamTimeBase(_stream);
        while (true)
        {
            int r = avcodec_receive_packet(_enc, _pkt);
            if (r == AVERROR_EAGAIN || r == AVERROR_EOF) return;
            FFmpegError.Check(r, Fail("encoding failed"));
            // Constant rate: every frame lasts one tick of the encoder time base (gives the file its full duration).
            if (Fields.PacketDuration(_pkt) == 0) Fields.SetPacketDuration(_pkt, 1);
            av_packet_rescale_ts(_pkt, _encTimeBase, streamTimeBase);
            Fields.SetPacketStreamIndex(_pkt, Fields.StreamIndex(_stream));
            // Takes the packet's reference (and resets _pkt) whether or not it succeeds.
            FFmpegError.CheckOutput(av_interleaved_write_frame(_oc, _pkt), Fail("writing failed"));
        }
    }

    private void EnsureWritable()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_completed) throw new InvalidOperationException($"'{Path}' is already complete");
        if (_failed) throw new InvalidOperationException($"an earlier write to '{Path}' failed; the output was abandoned");
    }

    /// <summary>Releases everything; without a successful <see cref="Complete"/> the temporary file is deleted.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        sws_freeContext(_sws);
        if (_pkt != 0) { var p = _pkt; av_packet_free(&p); }
        foreach (var f in new[] { _rgbFrame, _encFrame }) if (f != 0) { var x = f; av_frame_free(&x); }
        if (_enc != 0) { var e = _enc; avcodec_free_context(&e); }
        if (_oc != 0)
        {
            avio_closep(Fields.FormatPbAddress(_oc)); // no-op when Complete closed it
            avformat_free_context(_oc);
        }
        (_sws, _pkt, _rgbFrame, _encFrame, _enc, _oc) = (0, 0, 0, 0, 0, 0);
        _output?.Dispose(); // deletes the temporary unless Complete renamed it
    }
}

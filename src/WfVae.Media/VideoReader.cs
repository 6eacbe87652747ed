using System.Runtime.InteropServices;
using WfVae.Media.FFmpeg;
using static WfVae.Media.FFmpeg.Native;

namespace WfVae.Media;

public sealed record VideoReaderOptions
{
    /// <summary>libavfilter graph applied to decoded frames, e.g. <c>scale=512:512,fps=8</c> (null: none).</summary>
    public string? VideoFilter { get; init; }

    /// <summary>Input format short name (<c>mpegts</c>, <c>rawvideo</c>, ...) instead of probing.</summary>
    public string? InputFormat { get; init; }

    /// <summary>
    /// Demuxer and protocol options for avformat_open_input, e.g. <c>timeout</c> (µs) for udp/tcp,
    /// <c>listen</c>=1 for tcp, <c>follow</c>=1 to keep reading a file that is still being written.
    /// </summary>
    public IReadOnlyDictionary<string, string>? InputOptions { get; init; }

    /// <summary>
    /// For live inputs (network streams, followed files): a read error once frames have arrived (the sender
    /// went quiet for the protocol timeout, the connection closed) ends the stream like end of file, so the
    /// frames still inside the decoder and the filter graph are drained instead of lost. The error is kept in
    /// <see cref="VideoReader.EndReason"/>.
    /// </summary>
    public bool EndOnReadError { get; init; }

    /// <summary>Turn frames upright by the stream's display matrix, as the ffmpeg tool does (false: as stored, like its -noautorotate).</summary>
    public bool AutoRotate { get; init; } = true;
}

/// <summary>
/// Decodes the best video stream of anything FFmpeg opens (file, <c>pipe:0</c> or <c>-</c>, udp/tcp/http URL)
/// into packed RGB24 frames, optionally through a libavfilter graph. <see cref="Open"/> decodes the first
/// frame, so size, rate and pixel format are known (and a broken input fails) right away.
/// Not thread-safe.
/// </summary>
public sealed unsafe class VideoReader : IDisposable
{
    private static readonly int AVERROR_INVALIDDATA = -('I' | ('N' << 8) | ('D' << 16) | ('A' << 24));
    // One choice of swscale flags for both conversions: the graph's to RGB24 and a mid-stream size change back to the first size.
    private const int SwsFlags = SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT;
    private const string SwsFlagNames = "bicubic+accurate_rnd+full_chroma_int";

    private nint _fmt, _dec, _pkt, _decFrame, _filtFrame, _rgbFrame, _sws, _graph, _src, _sink;
    private nint _stream, _out;
    private int _streamIndex, _swsW, _swsH, _rgb24;
    private bool _demuxEof, _filterFlushed, _pending, _disposed;
    private readonly string? _filterSpec;
    private bool _endOnReadError, _autoRotate;

    /// <summary>The input as given to <see cref="Open"/>.</summary>
    public string Input { get; }
    /// <summary>Output frame size (after the filter graph, if any).</summary>
    public int Width { get; private set; }
    public int Height { get; private set; }
    /// <summary>Bytes of one RGB24 output frame.</summary>
    public int FrameBytes => Width * Height * 3;
    /// <summary>Output frame rate: the filter's output rate, else the stream's (avg_frame_rate / r_frame_rate via av_guess_frame_rate); 0/1 when unknown.</summary>
    public AVRational FrameRate { get; private set; }
    /// <summary>Decoded (source) pixel format, e.g. <c>yuv420p</c>.</summary>
    public string PixelFormatName { get; private set; } = "";
    public int SourceWidth { get; private set; }
    public int SourceHeight { get; private set; }
    /// <summary>Name of the decoder, e.g. <c>h264</c>.</summary>
    public string CodecName { get; private set; } = "";
    /// <summary>Frames returned so far.</summary>
    public long FramesRead { get; private set; }
    /// <summary>Why a live input ended (the read error taken as its end), or null.</summary>
    public string? EndReason { get; private set; }
    /// <summary>Clockwise degrees the reader turns the frames to show them upright, from the stream's display matrix, before any filter (0, 90, 180, 270).</summary>
    public int Rotation { get; private set; }
    /// <summary>Error lines FFmpeg logged while this reader read (damage a demuxer resynchronised over, say); the first in <see cref="FirstReadError"/>.</summary>
    public int ReadErrors => _readErrors;
    public string? FirstReadError { get; private set; }
    private int _readErrors;

    internal void NoteLogError(string line)
    {
        if (Interlocked.Increment(ref _readErrors) == 1) FirstReadError = line;
    }

    /// <summary>Packets and frames the decoder refused as damaged and that were skipped (as the ffmpeg CLI skips them).</summary>
    public int DamagedSkipped { get; private set; }

    private VideoReader(string input, string? filter) => (Input, _filterSpec) = (input, string.IsNullOrWhiteSpace(filter) ? null : filter);

    /// <summary>Opens <paramref name="urlOrPath"/> (<c>-</c> means standard input) and decodes its first frame.</summary>
    public static VideoReader Open(string urlOrPath, VideoReaderOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(urlOrPath);
        FFmpegLibrary.EnsureLoaded();
        options ??= new VideoReaderOptions();
        var reader = new VideoReader(urlOrPath, options.VideoFilter) { _endOnReadError = options.EndOnReadError, _autoRotate = options.AutoRotate };
        try { reader.Init(urlOrPath == "-" ? "pipe:0" : urlOrPath, options); return reader; }
        catch { reader.Dispose(); throw; }
    }

    private string Fail(string what) => $"'{Input}': {what}";

    private void Init(string url, VideoReaderOptions o)
    {
        nint inputFormat = 0;
        if (o.InputFormat is { Length: > 0 } name && (inputFormat = av_find_input_format(name)) == 0)
            throw new MediaException(Fail($"unknown input format '{name}'"));
        nint dict = 0, ctx = 0;
        foreach (var (k, v) in o.InputOptions ?? new Dictionary<string, string>()) av_dict_set(&dict, k, v, 0);
        int r = avformat_open_input(&ctx, url, inputFormat, &dict);
        av_dict_free(&dict);
        FFmpegError.Check(r, Fail("cannot open"));
        _fmt = ctx;
        FFmpegError.Check(avformat_find_stream_info(_fmt, null), Fail("cannot read stream information"));

        nint codec = 0;
        _streamIndex = av_find_best_stream(_fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
        if (_streamIndex < 0)
            throw new MediaException(Fail($"no decodable video stream ({FFmpegError.Message(_streamIndex)})"));
        _stream = Fields.FormatStream(_fmt, _streamIndex);
        CodecName = Fields.CodecName(codec);
        _dec = avcodec_alloc_context3(codec);
        if (_dec == 0) throw new OutOfMemoryException("avcodec_alloc_context3");
        FFmpegError.Check(avcodec_parameters_to_context(_dec, Fields.StreamCodecpar(_stream)), Fail("bad codec parameters"));
        av_opt_set(_dec, "threads", "auto", 0);
        FFmpegError.Check(avcodec_open2(_dec, codec, null), Fail($"cannot open decoder {CodecName}"));

        _pkt = av_packet_alloc(); _decFrame = av_frame_alloc(); _filtFrame = av_frame_alloc(); _rgbFrame = av_frame_alloc();
        if (_pkt == 0 || _decFrame == 0 || _filtFrame == 0 || _rgbFrame == 0) throw new OutOfMemoryException("av_packet_alloc/av_frame_alloc");
        _rgb24 = av_get_pix_fmt("rgb24");

        if (!NextOutputFrame())
            throw new MediaException(Fail($"no video frame could be decoded{(DamagedSkipped > 0 ? $" (the decoder refused {DamagedSkipped} damaged packet(s) or frame(s))" : "")}"));
        _pending = true;
        Width = Fields.FrameWidth(_out);
        Height = Fields.FrameHeight(_out);
        var streamRate = av_guess_frame_rate(_fmt, _stream, 0);
        var sinkRate = _sink != 0 ? av_buffersink_get_frame_rate(_sink) : default;
        FrameRate = sinkRate.Num > 0 && sinkRate.Den > 0 ? sinkRate : streamRate.Num > 0 && streamRate.Den > 0 ? streamRate : new AVRational(0, 1);
        Fields.SetFrameGeometry(_rgbFrame, Width, Height, _rgb24);
        FFmpegError.Check(av_frame_get_buffer(_rgbFrame, 0), Fail("cannot allocate an RGB frame"));
    }

    /// <summary>Reads the next frame as packed RGB24 (<see cref="FrameBytes"/> bytes); false at the end of the input.</summary>
    public bool ReadFrame(Span<byte> rgb24)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (rgb24.Length < FrameBytes) throw new ArgumentException($"buffer holds {rgb24.Length} bytes, a frame needs {FrameBytes}", nameof(rgb24));
        if (_pending) _pending = false;
        else if (!NextOutputFrame()) return false;
        try { ConvertToRgb(_out, rgb24); }
        finally { av_frame_unref(_out); }
        FramesRead++;
        return true;
    }

    /// <summary>The remaining frames, each a new RGB24 array.</summary>
    public IEnumerable<byte[]> ReadFrames()
    {
        while (true)
        {
            var frame = new byte[FrameBytes];
            if (!ReadFrame(frame)) yield break;
            yield return frame;
        }
    }

    /// <summary>Next decoded frame into <paramref name="frame"/>; false once the decoder is drained.</summary>
    private bool NextDecodedFrame(nint frame)
    {
        while (true)
        {
            int r = avcodec_receive_frame(_dec, frame);
            if (r >= 0)
            {
                if (SourceWidth == 0)
                {
                    (SourceWidth, SourceHeight) = (Fields.FrameWidth(frame), Fields.FrameHeight(frame));
                    PixelFormatName = Marshal.PtrToStringUTF8(av_get_pix_fmt_name(Fields.FrameFormat(frame))) ?? "?";
                }
                return true;
            }
            if (r == AVERROR_EOF || (r == AVERROR_EAGAIN && _demuxEof)) return false;
            if (r != AVERROR_EAGAIN && r != AVERROR_INVALIDDATA) FFmpegError.Check(r, Fail("decoding failed"));
            if (r == AVERROR_INVALIDDATA) DamagedSkipped++;
            // Draining (a truncated file's last packets): a damaged frame is skipped and the rest still come out; the
            // demuxer is done and the decoder already has its flush packet (a second one is refused with EOF).
            if (_demuxEof) continue;

            r = av_read_frame(_fmt, _pkt);
            if (r < 0 && r != AVERROR_EOF && r != AVERROR_EAGAIN && _endOnReadError && SourceWidth > 0)
            {
                EndReason = FFmpegError.Message(r);
                r = AVERROR_EOF;
            }
            if (r == AVERROR_EOF)
            {
                _demuxEof = true;
                r = avcodec_send_packet(_dec, 0); // may decode a held packet, damaged in a cut-off file: skipped as below
                if (r != AVERROR_INVALIDDATA) FFmpegError.Check(r, Fail("flushing the decoder failed"));
                else DamagedSkipped++;
                continue;
            }
            FFmpegError.Check(r, Fail("reading failed"));
            if (Fields.PacketStreamIndex(_pkt) == _streamIndex)
            {
                r = avcodec_send_packet(_dec, _pkt);
                // A damaged packet (e.g. lost datagrams) is skipped, like the ffmpeg CLI does.
                if (r < 0 && r != AVERROR_INVALIDDATA) { av_packet_unref(_pkt); FFmpegError.Check(r, Fail("decoding failed")); }
                if (r == AVERROR_INVALIDDATA) DamagedSkipped++;
            }
            av_packet_unref(_pkt);
        }
    }

    /// <summary>Next frame out of the filter graph (RGB24) into <see cref="_out"/>.</summary>
    private bool NextOutputFrame()
    {
        using var attribution = FFmpegLog.Reading(this);
        while (true)
        {
            if (_sink != 0)
            {
                int r = av_buffersink_get_frame(_sink, _filtFrame);
                if (r >= 0) { _out = _filtFrame; return true; }
                if (r == AVERROR_EOF || _filterFlushed) return false;
                if (r != AVERROR_EAGAIN) FFmpegError.Check(r, Fail("filter graph failed"));
            }
            if (NextDecodedFrame(_decFrame))
            {
                if (_graph == 0) BuildGraph(_decFrame);
                long ts = Fields.FrameBestEffortTimestamp(_decFrame);
                Fields.SetFramePts(_decFrame, ts);
                // flags 0: the graph takes the frame's references and resets _decFrame.
                FFmpegError.Check(av_buffersrc_add_frame_flags(_src, _decFrame, 0), Fail("filter graph rejected a frame"));
            }
            else
            {
                if (_graph == 0) return false;
                FFmpegError.Check(av_buffersrc_add_frame_flags(_src, 0, 0), Fail("flushing the filter graph failed"));
                _filterFlushed = true;
            }
        }
    }

    /// <summary>
    /// buffer (source geometry, stream time base, colour matrix and range) -> user filters -> scale -> format=rgb24
    /// -> buffersink. The conversion to RGB24 is the graph's, as in the ffmpeg CLI: its scale filter reads the
    /// frames' colour matrix (BT.709 camera footage), range (full-range 10-bit, VP9) and chroma siting.
    /// </summary>
    private void BuildGraph(nint first)
    {
        int w = Fields.FrameWidth(first), h = Fields.FrameHeight(first), fmt = Fields.FrameFormat(first);
        if (sws_isSupportedInput(fmt) == 0)
            throw new MediaException(Fail($"pixel format {Marshal.PtrToStringUTF8(av_get_pix_fmt_name(fmt)) ?? fmt.ToString()} cannot be converted to RGB24"));
        var tb = Fields.StreamTimeBase(_stream);
        var sar = av_guess_sample_aspect_ratio(_fmt, _stream, first);
        if (sar.Num <= 0 || sar.Den <= 0) sar = new AVRational(1, 1);
        var rate = av_guess_frame_rate(_fmt, _stream, first);
        var args = $"video_size={w}x{h}:pix_fmt={fmt}:time_base={tb.Num}/{tb.Den}:pixel_aspect={sar.Num}/{sar.Den}";
        if (rate.Num > 0 && rate.Den > 0) args += $":frame_rate={rate.Num}/{rate.Den}";
        args += ColourArgs();

        _graph = avfilter_graph_alloc();
        if (_graph == 0) throw new OutOfMemoryException("avfilter_graph_alloc");
        nint src = 0, sink = 0;
        FFmpegError.Check(avfilter_graph_create_filter(&src, avfilter_get_by_name("buffer"), "in", args, 0, _graph), Fail("cannot create the filter source"));
        FFmpegError.Check(avfilter_graph_create_filter(&sink, avfilter_get_by_name("buffersink"), "out", null, 0, _graph), Fail("cannot create the filter sink"));
        (_src, _sink) = (src, sink);
        nint upright = Upright(src, first);
        nint rgb = ToRgbChain(sink);

        // The parser's open "outputs" are the upright frames' pad, its "inputs" the RGB conversion's input pad.
        nint outputs = avfilter_inout_alloc(), inputs = avfilter_inout_alloc();
        Fields.SetInOut(outputs, av_strdup("in"), upright, 0, 0);
        Fields.SetInOut(inputs, av_strdup("out"), rgb, 0, 0);
        int r = avfilter_graph_parse_ptr(_graph, _filterSpec ?? "null", &inputs, &outputs, 0);
        avfilter_inout_free(&inputs);
        avfilter_inout_free(&outputs);
        FFmpegError.Check(r, Fail($"invalid video filter '{_filterSpec}'"));
        FFmpegError.Check(avfilter_graph_config(_graph, 0),
            Fail(_filterSpec is null ? "the conversion of its frames to RGB24 cannot be set up" : $"video filter '{_filterSpec}' cannot be configured"));
    }

    /// <summary>
    /// The stream's display matrix applied as the ffmpeg tool applies it (a phone's portrait clip comes out upright,
    /// a mirrored front-camera clip unmirrored): transpose, hflip or vflip after <paramref name="src"/>, behind a scale
    /// to the first frame's size (those filters index frames by their configured size, so a frame of another size
    /// must not reach them). Returns the last filter (src when the matrix asks for nothing).
    /// </summary>
    private nint Upright(nint src, nint first)
    {
        var chain = _autoRotate ? UprightFilters(DisplayMatrix(first)) : [];
        if (chain.Count == 0) return src;
        chain.Insert(0, ("scale", $"w={Fields.FrameWidth(first)}:h={Fields.FrameHeight(first)}:flags={SwsFlagNames}"));
        nint last = src;
        for (int i = 0; i < chain.Count; i++)
            last = Chain(last, chain[i].Name, $"upright_{i}", chain[i].Args, "that turns the frames upright");
        return last;
    }

    /// <summary>The ffmpeg tool's filters for a display matrix (fftools' autorotate), and <see cref="Rotation"/> from it.</summary>
    private List<(string Name, string? Args)> UprightFilters(int[]? m)
    {
        if (m == null) return [];
        double theta = -Math.Round(av_display_rotation_get(m));
        if (double.IsNaN(theta)) return [];
        theta -= 360 * Math.Floor(theta / 360 + 0.9 / 360);
        bool Near(double angle) => Math.Abs(theta - angle) < 1;
        var chain = new List<(string, string?)>();
        if (Near(90)) chain.Add(("transpose", m[3] > 0 ? "dir=cclock_flip" : "dir=clock"));
        else if (Near(180))
        {
            if (m[0] < 0) chain.Add(("hflip", null));
            if (m[4] < 0) chain.Add(("vflip", null));
        }
        else if (Near(270)) chain.Add(("transpose", m[3] < 0 ? "dir=clock_flip" : "dir=cclock"));
        else if (Math.Abs(theta) < 1 && m[4] < 0) chain.Add(("vflip", null));
        // Other angles (rare, and needing the rotate filter's fill) are left as stored.
        Rotation = Near(90) ? 90 : Near(180) ? 180 : Near(270) ? 270 : 0;
        return chain;
    }

    /// <summary>The display matrix (9 int32, 16.16 and 2.30 fixed point): the stream's side data in 5.x, the first frame's from 7.x.</summary>
    private int[]? DisplayMatrix(nint first)
    {
        nint matrix;
        if (FFmpegLibrary.Layout == FFmpegLayout.FFmpeg5)
        {
            nuint size = 0;
            matrix = av_stream_get_side_data(_stream, AV_PKT_DATA_DISPLAYMATRIX, &size);
            if (size < 36) matrix = 0;
        }
        else
        {
            nint sd = av_frame_get_side_data(first, AV_FRAME_DATA_DISPLAYMATRIX);
            matrix = sd == 0 ? 0 : *(nint*)(sd + 8); // AVFrameSideData.data, after the int type (same layout 5.1 to 9.0)
        }
        return matrix == 0 ? null : new ReadOnlySpan<int>((void*)matrix, 9).ToArray();
    }

    /// <summary>A filter <paramref name="name"/> linked after <paramref name="from"/>; a filter this FFmpeg lacks is named.</summary>
    private nint Chain(nint from, string name, string instance, string? args, string purpose)
    {
        nint filter = avfilter_get_by_name(name);
        if (filter == 0) throw new MediaException(Fail($"this FFmpeg has no '{name}' filter, needed for the step {purpose}"));
        nint ctx = 0;
        FFmpegError.Check(avfilter_graph_create_filter(&ctx, filter, instance, args, 0, _graph), Fail($"cannot create the {name} filter {purpose}"));
        if (from != 0) FFmpegError.Check(avfilter_link(from, 0, ctx, 0), Fail($"cannot link the {name} filter {purpose}"));
        return ctx;
    }

    /// <summary>scale (the reader's swscale flags) -> format=rgb24 -> <paramref name="sink"/>; returns the scale filter.</summary>
    private nint ToRgbChain(nint sink)
    {
        const string purpose = "that converts the frames to RGB24";
        nint scale = Chain(0, "scale", "to_rgb", $"flags={SwsFlagNames}", purpose);
        nint format = Chain(scale, "format", "rgb24", "pix_fmts=rgb24", purpose);
        FFmpegError.Check(avfilter_link(format, 0, sink, 0), Fail($"cannot link the RGB24 output {purpose}"));
        return scale;
    }

    /// <summary>
    /// From 7.1 the graph negotiates colour matrix and range per link, from the buffer source's options: the decoder's,
    /// as the ffmpeg CLI passes them (5.1's buffer source has no such options; its scale filter reads the frames).
    /// </summary>
    private string ColourArgs()
    {
        if (FFmpegLibrary.Layout == FFmpegLayout.FFmpeg5) return "";
        if (av_opt_get_int(_dec, "colorspace", 0, out long space) < 0 || av_opt_get_int(_dec, "color_range", 0, out long range) < 0)
            return ""; // the frames' own tags, where the buffer source fills unspecified ones from them
        return $":colorspace={space}:range={range}";
    }

    /// <summary>
    /// Copies a graph output frame (RGB24) into <paramref name="dst"/>; a frame whose size changed mid-stream is first
    /// scaled back to the first frame's size, which the output keeps.
    /// </summary>
    private void ConvertToRgb(nint frame, Span<byte> dst)
    {
        int w = Fields.FrameWidth(frame), h = Fields.FrameHeight(frame);
        if (w != Width || h != Height)
        {
            if (_sws == 0 || w != _swsW || h != _swsH)
            {
                sws_freeContext(_sws);
                _sws = sws_getContext(w, h, _rgb24, Width, Height, _rgb24, SwsFlags, 0, 0, 0);
                if (_sws == 0) throw new MediaException(Fail($"cannot scale RGB24 {w}x{h} frames to the first frame's {Width}x{Height}"));
                (_swsW, _swsH) = (w, h);
            }
            FFmpegError.Check(sws_scale(_sws, Fields.FrameData(frame), Fields.FrameLinesize(frame), 0, h, Fields.FrameData(_rgbFrame), Fields.FrameLinesize(_rgbFrame)),
                Fail("pixel conversion failed"));
            frame = _rgbFrame;
        }
        byte* src = Fields.FramePlane(frame, 0);
        int stride = Fields.FrameLinesizeOf(frame, 0), row = Width * 3;
        for (int y = 0; y < Height; y++)
            new ReadOnlySpan<byte>(src + (long)y * stride, row).CopyTo(dst.Slice(y * row, row));
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        sws_freeContext(_sws);
        if (_graph != 0) { var g = _graph; avfilter_graph_free(&g); }
        if (_pkt != 0) { var p = _pkt; av_packet_free(&p); }
        foreach (var f in new[] { _decFrame, _filtFrame, _rgbFrame }) if (f != 0) { var x = f; av_frame_free(&x); }
        if (_dec != 0) { var d = _dec; avcodec_free_context(&d); }
        if (_fmt != 0) { var c = _fmt; avformat_close_input(&c); }
        (_sws, _graph, _pkt, _decFrame, _filtFrame, _rgbFrame, _dec, _fmt) = (0, 0, 0, 0, 0, 0, 0, 0);
    }
}

using System.Runtime.InteropServices;
using WfVae.IO;
using WfVae.Media;
using WfVae.Model;
using WfVae.Streaming;

namespace WfVae.Cli;

/// <summary>
/// Where decoded frames go: a video file through libavcodec (the final name appears only on
/// <see cref="Complete"/>), or raw frames (--raw) to stdout, a FIFO or device, or a file (through
/// <see cref="OutputFile"/>: complete under its name or not at all). Frames arrive as the decoder's planar floats at the
/// model size and are cropped to the output size (undoing --pad) before conversion.
/// </summary>
internal sealed class FrameSink : IDisposable
{
    private readonly VideoWriter? _video;
    private readonly OutputFile? _raw;
    private readonly byte[] _buffer;

    /// <summary>Output layout: RGB24, or planar float32 for --raw f32; output size and frame rate.</summary>
    public RawFrameFormat Format { get; }
    public long FramesWritten { get; private set; }
    public string Description { get; }

    private FrameSink(RawFrameFormat format, VideoWriter? video, OutputFile? raw, string description)
    {
        (Format, _video, _raw, Description) = (format, video, raw, description);
        _buffer = new byte[format.FrameBytes];
    }

    /// <summary>
    /// A video file unless <paramref name="rawPixel"/> is set (--raw): then raw frames to "-" (stdout) or a file.
    /// Opened before any work, so an output that cannot be written fails at once.
    /// </summary>
    public static FrameSink Create(Options o, string output, RawPixelFormat? rawPixel, int width, int height, (int Num, int Den) fps)
    {
        if (rawPixel is { } pixel)
        {
            StreamOptions.RefuseIgnored(o, "on raw frames (they set the video encoder)", "--codec", "--crf");
            var format = new RawFrameFormat(pixel, width, height, fps.Num, fps.Den);
            var file = OutputFile.Create(output);
            return new FrameSink(format, null, file, $"{(output == "-" ? "stdout" : output)} (raw {format.Describe()})");
        }
        if (output == "-") throw new UsageException("writing a video to stdout needs --raw (e.g. --raw rgb24, then ffmpeg -f rawvideo -pix_fmt rgb24 -s WxH -r FPS -i -)");
        int? crf = o.Get("--crf") is { } c
            ? int.TryParse(c, out int v) && v >= 0 && v <= 63 ? v : throw new UsageException($"--crf must be an integer 0..63, got '{c}'")
            : null;
        var options = new VideoWriterOptions { Codec = o.Get("--codec") ?? DefaultCodec(output), Crf = crf ?? 18 };
        var writer = VideoWriter.Create(output, width, height, fps, options);
        var rgb = new RawFrameFormat(RawPixelFormat.Rgb24, width, height, fps.Num, fps.Den);
        return new FrameSink(rgb, writer, null, $"{output} ({writer.CodecName} {writer.PixelFormatName} {width}x{height}, {fps.Num}/{fps.Den} fps)");
    }

    /// <summary>AVI takes H.264, but its players expect MPEG-4 Part 2; null: VideoWriter's choice by container.</summary>
    private static string? DefaultCodec(string output) => Path.GetExtension(output).ToLowerInvariant() switch
    {
        ".avi" => "mpeg4",
        _ => null,
    };

    /// <summary>
    /// Writes one decoded frame ([3][mh][mw] floats at the model size), cropped to the output size;
    /// returns the bytes written (valid until the next call).
    /// </summary>
    public ReadOnlySpan<byte> Write(ReadOnlySpan<float> planar, int modelWidth, int modelHeight)
    {
        var frame = modelWidth == Format.Width && modelHeight == Format.Height ? planar
            : FrameConversion.CropPlanar(planar, modelWidth, modelHeight, Format.Width, Format.Height);
        Format.FromModel(frame, _buffer);
        if (_video != null) _video.WriteFrame(_buffer);
        else _raw!.Stream.Write(_buffer);
        FramesWritten++;
        return _buffer;
    }

    /// <summary>Every frame of a decoder output, in order.</summary>
    public void WriteAll(VideoFrames v, int modelWidth, int modelHeight, Action<ReadOnlySpan<byte>>? written = null)
    {
        int fe = 3 * modelWidth * modelHeight;
        for (int i = 0; i < v.Frames; i++)
        {
            var bytes = Write(v.Data.AsSpan(i * fe, fe), modelWidth, modelHeight);
            written?.Invoke(bytes);
        }
    }

    /// <summary>Finishes the output: the video trailer or the raw flush, then the rename to the final name.</summary>
    public void Complete()
    {
        if (_video != null) _video.Complete();
        else _raw!.Commit();
    }

    /// <summary>Without <see cref="Complete"/>, the temporary output is deleted: the final name never holds a partial file.</summary>
    public void Dispose()
    {
        _video?.Dispose();
        _raw?.Dispose();
    }

    /// <summary>RGB24 view of bytes in this sink's layout (f32 frames are converted with the official mapping), for metrics.</summary>
    public static byte[] ToRgb24(ReadOnlySpan<byte> frame, RawFrameFormat format) =>
        format.Pixel == RawPixelFormat.Rgb24 ? frame.ToArray()
            : FrameConversion.ToRgb24(MemoryMarshal.Cast<byte, float>(frame), format.Width, format.Height);
}

using System.Buffers;
using System.Buffers.Binary;
using WfVae.Model;

namespace WfVae.Streaming;

/// <summary>How the pixels of one raw frame are laid out in a byte stream.</summary>
public enum RawPixelFormat
{
    /// <summary>
    /// Packed 8-bit RGB, row-major HWC (R, G, B per pixel), H·W·3 bytes per frame, mapped by
    /// <see cref="WfVae.Model.PixelMapping"/> (in: v / 255 · 2 − 1; out: clamp, round((x + 1) / 2 · 255)).
    /// </summary>
    Rgb24,

    /// <summary>
    /// Planar float32 little-endian [3][H][W] (all of R, then G, then B), 12·H·W bytes per frame: the
    /// model's own values, passed through unchanged (not clamped on output).
    /// </summary>
    PlanarFloat32,
}

/// <summary>
/// A raw video frame format, fixed up front for a whole stream: pixel layout, size and frame rate
/// (a rational, e.g. 30000/1001). Frames follow one another with no header or padding between them.
/// </summary>
public sealed record RawFrameFormat
{
    public RawPixelFormat Pixel { get; }
    public int Width { get; }
    public int Height { get; }
    public int FpsNumerator { get; }
    public int FpsDenominator { get; }

    public RawFrameFormat(RawPixelFormat pixel, int width, int height, int fpsNumerator = 30, int fpsDenominator = 1)
    {
        if (width < 1 || height < 1) throw new ArgumentException($"frame size must be positive, got {width}x{height}");
        if (fpsNumerator < 1 || fpsDenominator < 1) throw new ArgumentException($"frame rate must be a positive rational, got {fpsNumerator}/{fpsDenominator}");
        if ((long)width * height * (pixel == RawPixelFormat.Rgb24 ? 3 : 12) > int.MaxValue)
            throw new ArgumentException($"a {width}x{height} frame is too large");
        (Pixel, Width, Height, FpsNumerator, FpsDenominator) = (pixel, width, height, fpsNumerator, fpsDenominator);
    }

    /// <summary>Bytes of one frame in the stream.</summary>
    public int FrameBytes => Width * Height * (Pixel == RawPixelFormat.Rgb24 ? 3 : 12);

    /// <summary>Floats of one frame as the model takes it: [3][H][W].</summary>
    public int FrameElements => 3 * Width * Height;

    public string Describe() => $"{Width}x{Height} {(Pixel == RawPixelFormat.Rgb24 ? "rgb24" : "planar float32")} at {FpsNumerator}/{FpsDenominator} fps";

    /// <summary>Parses "rgb24" or "f32" (also "planar-f32", "float32").</summary>
    public static RawPixelFormat ParsePixel(string text) => text.ToLowerInvariant() switch
    {
        "rgb24" or "rgb" => RawPixelFormat.Rgb24,
        "f32" or "float32" or "planar-f32" or "planarfloat32" => RawPixelFormat.PlanarFloat32,
        _ => throw new FormatException($"unknown raw pixel format '{text}' (use rgb24 or f32)"),
    };

    /// <summary>Converts one frame of stream bytes to the model's [3][H][W] floats.</summary>
    public void ToModel(ReadOnlySequence<byte> frame, Span<float> dst)
    {
        if (frame.Length != FrameBytes) throw new ArgumentException($"a frame is {FrameBytes} bytes, got {frame.Length}");
        if (dst.Length != FrameElements) throw new ArgumentException($"a frame is {FrameElements} floats, got {dst.Length}");
        if (frame.IsSingleSegment)
        {
            ToModel(frame.FirstSpan, dst);
            return;
        }
        var rented = ArrayPool<byte>.Shared.Rent(FrameBytes);
        try
        {
            frame.CopyTo(rented);
            ToModel(rented.AsSpan(0, FrameBytes), dst);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    public void ToModel(ReadOnlySpan<byte> src, Span<float> dst)
    {
        int plane = Width * Height;
        if (Pixel == RawPixelFormat.PlanarFloat32)
        {
            for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadSingleLittleEndian(src.Slice(4 * i, 4));
            return;
        }
        PixelMapping.ToPlanar(src, dst, plane);
    }

    /// <summary>Converts one model frame [3][H][W] to stream bytes.</summary>
    public void FromModel(ReadOnlySpan<float> src, Span<byte> dst)
    {
        if (src.Length != FrameElements) throw new ArgumentException($"a frame is {FrameElements} floats, got {src.Length}");
        if (dst.Length < FrameBytes) throw new ArgumentException($"a frame is {FrameBytes} bytes, got room for {dst.Length}");
        int plane = Width * Height;
        if (Pixel == RawPixelFormat.PlanarFloat32)
        {
            for (int i = 0; i < src.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(dst.Slice(4 * i, 4), src[i]);
            return;
        }
        PixelMapping.ToRgb24(src, dst, plane);
    }
}

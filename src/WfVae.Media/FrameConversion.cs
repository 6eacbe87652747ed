using WfVae.Model;
using WfVae.Model.Checkpoint;

namespace WfVae.Media;

/// <summary>
/// Packed RGB24 bytes &lt;-&gt; the engine's planar float frames ([3][H][W] per frame, R, G, B planes, values in
/// [-1, 1]) through the model's one pixel mapping (<see cref="PixelMapping"/>: in v / 255 · 2 − 1; out clamp, then
/// round((x + 1) / 2 · 255)). Plus edge-replication padding to multiples of 8 and cropping. Several frames are
/// simply concatenated (frame-major), which is what EncoderSession.Push takes.
/// </summary>
public static class FrameConversion
{
    /// <summary>Writes one frame's [3][H][W] floats into <paramref name="planar"/> (3·W·H values).</summary>
    public static void ToPlanar(ReadOnlySpan<byte> rgb24, int width, int height, Span<float> planar) =>
        PixelMapping.ToPlanar(rgb24, planar, Pixels(width, height));

    public static float[] ToPlanar(ReadOnlySpan<byte> rgb24, int width, int height)
    {
        var planar = new float[3 * width * height];
        ToPlanar(rgb24, width, height, planar);
        return planar;
    }

    /// <summary>Frames concatenated frame-major: [n][3][H][W].</summary>
    public static float[] ToPlanar(IReadOnlyList<byte[]> frames, int width, int height)
    {
        int size = 3 * width * height;
        var planar = new float[frames.Count * size];
        for (int f = 0; f < frames.Count; f++) ToPlanar(frames[f], width, height, planar.AsSpan(f * size, size));
        return planar;
    }

    /// <summary>One [3][H][W] float frame to packed RGB24 (clamped and rounded, <see cref="PixelMapping.ToByte"/>).</summary>
    public static void ToRgb24(ReadOnlySpan<float> planar, int width, int height, Span<byte> rgb24) =>
        PixelMapping.ToRgb24(planar, rgb24, Pixels(width, height));

    public static byte[] ToRgb24(ReadOnlySpan<float> planar, int width, int height)
    {
        var rgb = new byte[3 * width * height];
        ToRgb24(planar, width, height, rgb);
        return rgb;
    }

    /// <summary>Pads an RGB24 frame to <paramref name="newWidth"/> x <paramref name="newHeight"/> by repeating the last column and row.</summary>
    public static byte[] PadRgb24(ReadOnlySpan<byte> rgb24, int width, int height, int newWidth, int newHeight)
    {
        if (rgb24.Length != width * height * 3) throw new ArgumentException($"frame has {rgb24.Length} bytes, {width}x{height} RGB24 needs {width * height * 3}");
        if (newWidth < width || newHeight < height) throw new ArgumentException($"cannot pad {width}x{height} to the smaller {newWidth}x{newHeight}");
        var dst = new byte[newWidth * newHeight * 3];
        for (int y = 0; y < newHeight; y++)
        {
            var srcRow = rgb24.Slice(Math.Min(y, height - 1) * width * 3, width * 3);
            var dstRow = dst.AsSpan(y * newWidth * 3, newWidth * 3);
            srcRow.CopyTo(dstRow);
            for (int x = width; x < newWidth; x++) srcRow.Slice((width - 1) * 3, 3).CopyTo(dstRow.Slice(x * 3, 3));
        }
        return dst;
    }

    /// <summary>Pads to the next multiples of 8 (edge replication).</summary>
    public static byte[] PadRgb24To8(ReadOnlySpan<byte> rgb24, int width, int height) =>
        PadRgb24(rgb24, width, height, WfVaeConfig.PaddedSize(width), WfVaeConfig.PaddedSize(height));

    /// <summary>The top-left <paramref name="cropWidth"/> x <paramref name="cropHeight"/> of an RGB24 frame (undoes padding).</summary>
    public static byte[] CropRgb24(ReadOnlySpan<byte> rgb24, int width, int height, int cropWidth, int cropHeight)
    {
        if (rgb24.Length != width * height * 3) throw new ArgumentException($"frame has {rgb24.Length} bytes, {width}x{height} RGB24 needs {width * height * 3}");
        if (cropWidth > width || cropHeight > height || cropWidth < 1 || cropHeight < 1) throw new ArgumentException($"cannot crop {width}x{height} to {cropWidth}x{cropHeight}");
        var dst = new byte[cropWidth * cropHeight * 3];
        for (int y = 0; y < cropHeight; y++)
            rgb24.Slice(y * width * 3, cropWidth * 3).CopyTo(dst.AsSpan(y * cropWidth * 3));
        return dst;
    }

    /// <summary>The top-left crop of one planar [3][H][W] frame.</summary>
    public static float[] CropPlanar(ReadOnlySpan<float> planar, int width, int height, int cropWidth, int cropHeight)
    {
        if (planar.Length != width * height * 3) throw new ArgumentException($"frame has {planar.Length} values, 3x{height}x{width} needs {width * height * 3}");
        if (cropWidth > width || cropHeight > height || cropWidth < 1 || cropHeight < 1) throw new ArgumentException($"cannot crop {width}x{height} to {cropWidth}x{cropHeight}");
        var dst = new float[3 * cropWidth * cropHeight];
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < cropHeight; y++)
                planar.Slice((c * height + y) * width, cropWidth).CopyTo(dst.AsSpan((c * cropHeight + y) * cropWidth));
        return dst;
    }

    private static int Pixels(int width, int height) =>
        width < 1 || height < 1 ? throw new ArgumentException($"bad frame size {width}x{height}") : width * height;
}

using WfVae.Streaming;

namespace WfVae.Frei0r;

/// <summary>
/// frei0r's RGBA8888 frames and the model's planar floats. The value mapping is the CLI's rgb24 one
/// (<see cref="RawFrameFormat"/>): RGBA is only repacked to RGB24 (alpha dropped on the way in, 255 on the
/// way out), so frames through a plugin get exactly the values `wfvae` gives the same pixels.
/// </summary>
internal sealed class RgbaFrames(int width, int height)
{
    private byte[]? _rgb;

    public RawFrameFormat Rgb24 { get; } = new(RawPixelFormat.Rgb24, width, height);

    public static void ToRgb24(ReadOnlySpan<byte> rgba, Span<byte> rgb)
    {
        for (int p = 0, n = rgba.Length / 4; p < n; p++)
        {
            rgb[3 * p] = rgba[4 * p];
            rgb[3 * p + 1] = rgba[4 * p + 1];
            rgb[3 * p + 2] = rgba[4 * p + 2];
        }
    }

    public static void FromRgb24(ReadOnlySpan<byte> rgb, Span<byte> rgba)
    {
        for (int p = 0, n = rgba.Length / 4; p < n; p++)
        {
            rgba[4 * p] = rgb[3 * p];
            rgba[4 * p + 1] = rgb[3 * p + 1];
            rgba[4 * p + 2] = rgb[3 * p + 2];
            rgba[4 * p + 3] = 255;
        }
    }

    /// <summary>One model frame [3][H][W] to RGBA, through the rgb24 mapping.</summary>
    public void FromModel(ReadOnlySpan<float> planar, Span<byte> rgba)
    {
        var rgb = _rgb ??= new byte[Rgb24.FrameBytes];
        Rgb24.FromModel(planar, rgb);
        FromRgb24(rgb, rgba);
    }
}

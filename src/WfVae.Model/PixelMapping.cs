namespace WfVae.Model;

/// <summary>
/// The one mapping between 8-bit RGB pixels and the model's values (docs/model.md, "Pixels"), used by the command
/// line, the streaming raw format, the media helpers, the demo and the metrics alike.
/// In: v / 255 · 2 − 1, computed in float32 as the official preprocessing does. Out: clamp to [−1, 1], then
/// round((x + 1) / 2 · 255) to the nearest integer, ties to even; NaN gives 0. Rounding, not truncation: it is the
/// nearest byte, so a value that went in comes back as the same byte, and PSNR is not biased by half a level.
/// Planar frames are [3][H][W] (all R, then G, then B); packed RGB24 is R, G, B per pixel, rows top to bottom.
/// </summary>
public static class PixelMapping
{
    /// <summary>One 8-bit value to the model's range.</summary>
    public static float ToModel(byte v) => v / 255f * 2f - 1f;

    /// <summary>One model value to the nearest 8-bit value (clamped; NaN → 0).</summary>
    public static byte ToByte(float x)
    {
        if (float.IsNaN(x)) return 0;
        float v = (Math.Clamp(x, -1f, 1f) + 1f) * 0.5f * 255f;
        return (byte)MathF.Round(v);
    }

    /// <summary>Packed RGB24 (<paramref name="pixels"/> · 3 bytes) to one planar [3][H][W] frame.</summary>
    public static void ToPlanar(ReadOnlySpan<byte> rgb24, Span<float> planar, int pixels)
    {
        Check(rgb24.Length, planar.Length, pixels);
        for (int p = 0; p < pixels; p++)
            for (int c = 0; c < 3; c++)
                planar[c * pixels + p] = ToModel(rgb24[3 * p + c]);
    }

    /// <summary>One planar [3][H][W] frame to packed RGB24.</summary>
    public static void ToRgb24(ReadOnlySpan<float> planar, Span<byte> rgb24, int pixels)
    {
        Check(rgb24.Length, planar.Length, pixels);
        for (int p = 0; p < pixels; p++)
            for (int c = 0; c < 3; c++)
                rgb24[3 * p + c] = ToByte(planar[c * pixels + p]);
    }

    private static void Check(int bytes, int floats, int pixels)
    {
        if (pixels < 1) throw new ArgumentException($"a frame needs at least one pixel, got {pixels}");
        if (bytes < 3 * pixels) throw new ArgumentException($"RGB24 buffer holds {bytes} bytes, {pixels} pixels need {3 * pixels}");
        if (floats < 3 * pixels) throw new ArgumentException($"planar buffer holds {floats} values, {pixels} pixels need {3 * pixels}");
    }
}

namespace WfVae.Demo;

/// <summary>
/// The default input: a deterministic clip computed in code, so the demo needs no file. Like the golden
/// data's synthetic video: per colour a drifting sinusoidal gradient, a moving soft-edged disk and a
/// moving soft vertical bar (without the noise, so the picture stays clean). Motion in every frame gives
/// the temporal wavelets and causal convolutions something to do.
/// </summary>
public static class SyntheticClip
{
    public static RgbClip Generate(int frames, int width, int height)
    {
        var list = new byte[frames][];
        for (int t = 0; t < frames; t++) list[t] = Frame(t, width, height);
        return new RgbClip(width, height, list, $"synthetic clip (moving gradient, disk and bar), {frames} frames of {width}x{height}");
    }

    private static byte[] Frame(int t, int width, int height)
    {
        var rgb = new byte[width * height * 3];
        // Positions in units of the frame size, so the picture looks the same at every resolution.
        double diskX = 0.25 + 0.5 * (0.5 + 0.5 * Math.Sin(0.35 * t));
        double diskY = 0.35 + 0.3 * (0.5 + 0.5 * Math.Cos(0.27 * t));
        double diskR = 0.18;
        double barX = (0.1 + 0.06 * t) % 1.0;
        double barHalf = 0.06;
        double edge = 1.5 / Math.Min(width, height); // soft edges about 1.5 pixels wide
        for (int y = 0; y < height; y++)
        {
            double v = (y + 0.5) / height;
            for (int x = 0; x < width; x++)
            {
                double u = (x + 0.5) / width;
                // Gradient: each colour a slow sinusoid in a different direction, drifting with t.
                double r = 0.5 + 0.35 * Math.Sin(2.0 * u + 1.3 * v + 0.20 * t);
                double g = 0.5 + 0.35 * Math.Sin(1.1 * u - 2.2 * v + 0.15 * t + 1.0);
                double b = 0.5 + 0.35 * Math.Sin(-1.7 * u + 0.8 * v - 0.25 * t + 2.0);
                double d = Math.Sqrt((u - diskX) * (u - diskX) + (v - diskY) * (v - diskY));
                double disk = Smooth((diskR - d) / edge);
                r = Mix(r, 0.95, disk); g = Mix(g, 0.85, disk); b = Mix(b, 0.15, disk);
                double bar = Smooth((barHalf - Math.Abs(u - barX)) / edge);
                r = Mix(r, 0.1, bar); g = Mix(g, 0.2, bar); b = Mix(b, 0.9, bar);
                int i = (y * width + x) * 3;
                rgb[i] = ToByte(r);
                rgb[i + 1] = ToByte(g);
                rgb[i + 2] = ToByte(b);
            }
        }
        return rgb;
    }

    private static double Smooth(double s) => Math.Clamp(0.5 + 0.5 * s, 0.0, 1.0);
    private static double Mix(double a, double b, double w) => a + (b - a) * w;
    private static byte ToByte(double x) => (byte)Math.Clamp((int)Math.Round(255.0 * x), 0, 255);
}

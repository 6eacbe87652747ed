namespace WfVae.Media;

/// <summary>
/// Quality metrics between packed RGB24 frames of equal size.
/// PSNR: over all R, G, B bytes with peak 255; +∞ for identical frames. The clip value
/// (<see cref="MeanPsnr"/>) is the PSNR of the mean per-frame MSE, like FFmpeg's psnr filter "average".
/// SSIM: Wang et al. 2004 with an 11x11 Gaussian window (σ = 1.5), K1 = 0.01, K2 = 0.03, L = 255, computed
/// on each of R, G, B separately over the "valid" window positions (no padding) and averaged over the three
/// channels (not on luma). The clip value (<see cref="MeanSsim"/>) is the mean over frames.
/// </summary>
public static class ImageMetrics
{
    public static double Mse(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        if (a.Length != b.Length || a.Length == 0) throw new ArgumentException($"frames differ in size ({a.Length} vs {b.Length} bytes) or are empty");
        long sum = 0;
        for (int i = 0; i < a.Length; i++) { int d = a[i] - b[i]; sum += d * d; }
        return (double)sum / a.Length;
    }

    public static double Psnr(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b) => PsnrFromMse(Mse(a, b));

    public static double PsnrFromMse(double mse) => mse == 0 ? double.PositiveInfinity : 10 * Math.Log10(255.0 * 255.0 / mse);

    public static double[] PsnrPerFrame(IReadOnlyList<byte[]> a, IReadOnlyList<byte[]> b) =>
        Pairs(a, b).Select(p => Psnr(p.A, p.B)).ToArray();

    public static double MeanPsnr(IReadOnlyList<byte[]> a, IReadOnlyList<byte[]> b) =>
        PsnrFromMse(Pairs(a, b).Average(p => Mse(p.A, p.B)));

    public static double MeanSsim(IReadOnlyList<byte[]> a, IReadOnlyList<byte[]> b, int width, int height) =>
        Pairs(a, b).Average(p => Ssim(p.A, p.B, width, height));

    private static IEnumerable<(byte[] A, byte[] B)> Pairs(IReadOnlyList<byte[]> a, IReadOnlyList<byte[]> b)
    {
        if (a.Count != b.Count || a.Count == 0) throw new ArgumentException($"clips differ in frame count ({a.Count} vs {b.Count}) or are empty");
        return a.Zip(b);
    }

    private const int Window = 11;
    private static readonly double[] Gauss = MakeGauss();

    private static double[] MakeGauss()
    {
        var g = new double[Window];
        for (int i = 0; i < Window; i++) g[i] = Math.Exp(-(i - 5) * (i - 5) / (2 * 1.5 * 1.5));
        double s = g.Sum();
        for (int i = 0; i < Window; i++) g[i] /= s;
        return g;
    }

    /// <summary>Mean SSIM over R, G and B of one frame pair (1 for identical frames). Both sides must be at least 11.</summary>
    public static double Ssim(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, int width, int height)
    {
        if (a.Length != width * height * 3 || b.Length != a.Length) throw new ArgumentException($"frames must be {width}x{height} RGB24 ({width * height * 3} bytes), got {a.Length} and {b.Length}");
        if (width < Window || height < Window) throw new ArgumentException($"SSIM needs frames of at least {Window}x{Window}, got {width}x{height}");
        double sum = 0;
        var x = new double[width * height];
        var y = new double[width * height];
        for (int c = 0; c < 3; c++)
        {
            for (int i = 0; i < x.Length; i++) { x[i] = a[3 * i + c]; y[i] = b[3 * i + c]; }
            sum += SsimPlane(x, y, width, height);
        }
        return sum / 3;
    }

    private static double SsimPlane(double[] x, double[] y, int w, int h)
    {
        const double C1 = 0.01 * 255 * 0.01 * 255, C2 = 0.03 * 255 * 0.03 * 255;
        var xx = new double[x.Length]; var yy = new double[x.Length]; var xy = new double[x.Length];
        for (int i = 0; i < x.Length; i++) { xx[i] = x[i] * x[i]; yy[i] = y[i] * y[i]; xy[i] = x[i] * y[i]; }
        var (mx, my, sxx, syy, sxy) = (Blur(x, w, h), Blur(y, w, h), Blur(xx, w, h), Blur(yy, w, h), Blur(xy, w, h));
        double total = 0;
        for (int i = 0; i < mx.Length; i++)
        {
            double vx = sxx[i] - mx[i] * mx[i], vy = syy[i] - my[i] * my[i], cov = sxy[i] - mx[i] * my[i];
            total += (2 * mx[i] * my[i] + C1) * (2 * cov + C2) / ((mx[i] * mx[i] + my[i] * my[i] + C1) * (vx + vy + C2));
        }
        return total / mx.Length;
    }

    /// <summary>Separable Gaussian filter over the valid positions: (w-10) x (h-10) outputs.</summary>
    private static double[] Blur(double[] src, int w, int h)
    {
        int ow = w - Window + 1, oh = h - Window + 1;
        var rows = new double[ow * h];
        for (int yy = 0; yy < h; yy++)
            for (int xx = 0; xx < ow; xx++)
            {
                double s = 0;
                for (int k = 0; k < Window; k++) s += Gauss[k] * src[yy * w + xx + k];
                rows[yy * ow + xx] = s;
            }
        var dst = new double[ow * oh];
        for (int yy = 0; yy < oh; yy++)
            for (int xx = 0; xx < ow; xx++)
            {
                double s = 0;
                for (int k = 0; k < Window; k++) s += Gauss[k] * rows[(yy + k) * ow + xx];
                dst[yy * ow + xx] = s;
            }
        return dst;
    }
}

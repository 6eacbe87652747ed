using WfVae.Media;
using WfVae.Model;
using WfVae.Model.Checkpoint;
using Xunit;

namespace WfVae.Tests.Media;

public sealed class FrameConversionTests
{
    private static byte[] Pattern(int w, int h, int seed = 1)
    {
        var rng = new Random(seed);
        var b = new byte[w * h * 3];
        rng.NextBytes(b);
        return b;
    }

    [Fact]
    public void ToPlanar_uses_the_official_mapping_and_plane_order()
    {
        byte[] rgb = [0, 255, 128, 10, 20, 30]; // two pixels
        var p = FrameConversion.ToPlanar(rgb, 2, 1);
        Assert.Equal([-1f, 10 / 255f * 2 - 1, 1f, 20 / 255f * 2 - 1, 128 / 255f * 2 - 1, 30 / 255f * 2 - 1], p);
    }

    [Fact]
    public void ToRgb24_clamps_and_rounds_to_the_nearest_byte()
    {
        Assert.Equal(255, PixelMapping.ToByte(1.5f));
        Assert.Equal(0, PixelMapping.ToByte(-2f));
        Assert.Equal(0, PixelMapping.ToByte(float.NaN));
        Assert.Equal(128, PixelMapping.ToByte(0f)); // 127.5: ties to even
        Assert.Equal(255, PixelMapping.ToByte(1f));
        Assert.Equal(0, PixelMapping.ToByte(-1f));
        Assert.Equal(255, PixelMapping.ToByte(0.999f)); // 254.87 rounds up
        Assert.Equal(254, PixelMapping.ToByte(0.99f)); // 253.72 rounds up
        Assert.Equal(1, PixelMapping.ToByte(-0.995f)); // 0.6375
        Assert.Equal(new byte[] { 128, 255, 0 }, FrameConversion.ToRgb24(new float[] { 0f, 0.999f, -1f }, 1, 1));
    }

    [Fact]
    public void Every_byte_round_trips_exactly_and_the_raw_format_agrees()
    {
        var all = Enumerable.Range(0, 256).SelectMany(v => new[] { (byte)v, (byte)v, (byte)v }).ToArray();
        var planar = FrameConversion.ToPlanar(all, 256, 1);
        var back = FrameConversion.ToRgb24(planar, 256, 1);
        Assert.Equal(all, back);

        // The streaming raw format maps the same way, both directions (one pixel mapping for CLI, demo, metrics).
        var raw = new WfVae.Streaming.RawFrameFormat(WfVae.Streaming.RawPixelFormat.Rgb24, 256, 1);
        var viaRaw = new float[raw.FrameElements];
        raw.ToModel(all, viaRaw);
        Assert.Equal(planar, viaRaw);
        var noisy = planar.Select((v, i) => v + (i % 7 - 3) * 0.0011f).ToArray();
        var bytes = new byte[raw.FrameBytes];
        raw.FromModel(noisy, bytes);
        Assert.Equal(FrameConversion.ToRgb24(noisy, 256, 1), bytes);

        // Several frames concatenate frame-major.
        var frames = new[] { Pattern(5, 3, 1), Pattern(5, 3, 2) };
        var both = FrameConversion.ToPlanar(frames, 5, 3);
        Assert.Equal(2 * 45, both.Length);
        Assert.Equal(FrameConversion.ToPlanar(frames[1], 5, 3), both[45..]);
    }

    [Fact]
    public void Pad_to_multiple_of_8_replicates_edges_and_crop_restores()
    {
        var img = Pattern(5, 3);
        Assert.Equal((8, 8, 16), (WfVaeConfig.PaddedSize(5), WfVaeConfig.PaddedSize(8), WfVaeConfig.PaddedSize(9)));
        var padded = FrameConversion.PadRgb24To8(img, 5, 3);
        Assert.Equal(8 * 8 * 3, padded.Length);
        for (int y = 0; y < 8; y++)
            for (int x = 0; x < 8; x++)
                for (int c = 0; c < 3; c++)
                    Assert.Equal(img[(Math.Min(y, 2) * 5 + Math.Min(x, 4)) * 3 + c], padded[(y * 8 + x) * 3 + c]);
        Assert.Equal(img, FrameConversion.CropRgb24(padded, 8, 8, 5, 3));

        var planar = FrameConversion.ToPlanar(padded, 8, 8);
        Assert.Equal(FrameConversion.ToPlanar(img, 5, 3), FrameConversion.CropPlanar(planar, 8, 8, 5, 3));
        Assert.Throws<ArgumentException>(() => FrameConversion.PadRgb24(img, 5, 3, 4, 8));
        Assert.Throws<ArgumentException>(() => FrameConversion.CropRgb24(img, 5, 3, 6, 3));
    }
}

public sealed class ImageMetricsTests
{
    private static byte[] Filled(int w, int h, byte v) => Enumerable.Repeat(v, w * h * 3).ToArray();

    [Fact]
    public void Identical_frames_give_infinite_psnr_and_ssim_one()
    {
        var rng = new Random(3);
        var a = new byte[32 * 24 * 3];
        rng.NextBytes(a);
        Assert.Equal(double.PositiveInfinity, ImageMetrics.Psnr(a, a));
        Assert.Equal(1.0, ImageMetrics.Ssim(a, a, 32, 24), 12);
    }

    [Fact]
    public void Known_noise_gives_the_expected_psnr()
    {
        var a = Filled(16, 16, 100);
        var b = a.Select((v, i) => (byte)(i % 2 == 0 ? v + 5 : v - 5)).ToArray(); // MSE 25
        Assert.Equal(25.0, ImageMetrics.Mse(a, b));
        Assert.Equal(10 * Math.Log10(65025.0 / 25), ImageMetrics.Psnr(a, b), 10); // 34.151 dB
        Assert.Equal(34.151, ImageMetrics.Psnr(a, b), 3);
        // Clip value: PSNR of the mean MSE (25 and 0 -> 12.5), not the mean of per-frame values.
        Assert.Equal(10 * Math.Log10(65025.0 / 12.5), ImageMetrics.MeanPsnr([a, a], [b, a]), 10);
        Assert.Equal([ImageMetrics.Psnr(a, b), double.PositiveInfinity], ImageMetrics.PsnrPerFrame([a, a], [b, a]));
    }

    [Fact]
    public void Ssim_of_a_brightness_offset_has_the_closed_form_value()
    {
        // Constant images: no variance, so SSIM reduces to the luminance term (2·μx·μy + C1) / (μx² + μy² + C1).
        var a = Filled(16, 16, 100);
        var b = Filled(16, 16, 110);
        double c1 = Math.Pow(0.01 * 255, 2);
        Assert.Equal((2 * 100 * 110 + c1) / (100 * 100 + 110 * 110 + c1), ImageMetrics.Ssim(a, b, 16, 16), 9);

        // Inverted noise is strongly anti-correlated: structure term near -1.
        var rng = new Random(5);
        var n = new byte[16 * 16 * 3];
        rng.NextBytes(n);
        var inv = n.Select(v => (byte)(255 - v)).ToArray();
        Assert.True(ImageMetrics.Ssim(n, inv, 16, 16) < -0.9);
        Assert.Throws<ArgumentException>(() => ImageMetrics.Ssim(new byte[8 * 8 * 3], new byte[8 * 8 * 3], 8, 8));
    }
}

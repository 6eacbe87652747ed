namespace WfVae.Demo;

// TEMPORARY: placeholders until WfVae.Media (branch media) is merged; replaced by calls into it.
internal static class MediaBridge
{
    public static float[] ToModelInput(RgbClip clip, int first, int count)
    {
        int hw = clip.Width * clip.Height;
        var x = new float[count * 3 * hw];
        for (int f = 0; f < count; f++)
        {
            var rgb = clip.Frames[first + f];
            for (int p = 0; p < hw; p++)
                for (int c = 0; c < 3; c++)
                    x[(f * 3 + c) * hw + p] = rgb[p * 3 + c] / 255f * 2f - 1f;
        }
        return x;
    }

    public static IReadOnlyList<byte[]> ToRgbFrames(float[] data, int frames, int w, int h)
    {
        int hw = w * h;
        var list = new byte[frames][];
        for (int f = 0; f < frames; f++)
        {
            var rgb = new byte[hw * 3];
            for (int p = 0; p < hw; p++)
                for (int c = 0; c < 3; c++)
                    rgb[p * 3 + c] = (byte)(255f * (Math.Clamp(data[(f * 3 + c) * hw + p], -1f, 1f) + 1f) / 2f);
            list[f] = rgb;
        }
        return list;
    }

    public static (double Psnr, double Ssim) Quality(RgbClip clip, IReadOnlyList<byte[]> reconstruction) => (double.NaN, double.NaN);

    public static void WritePng(Stream stream, byte[] rgb, int width, int height) { }

    public static RgbClip ReadVideo(string input, int frames, int width, int height) => throw new NotSupportedException("--input: waiting for WfVae.Media");
}

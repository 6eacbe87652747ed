using System.Globalization;

namespace WfVae.Frei0r;

/// <summary>
/// The frame rate recorded in the .wfl header. frei0r does not pass the rate, only a time per frame, and
/// hosts disagree on its unit: ffmpeg passes milliseconds, GStreamer and MLT seconds. So the rate is either
/// the "fps" parameter or guessed from the first two frame times.
/// </summary>
internal static class FrameRateGuess
{
    /// <summary>"25", "29.97" or "30000/1001".</summary>
    public static (int Num, int Den) Parse(string text)
    {
        var parts = text.Trim().Split('/');
        if (parts.Length == 2 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int n)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int d) && n > 0 && d > 0)
            return (n, d);
        if (parts.Length == 1 && double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double r) && r > 0 && r <= 1e6)
            return Rational(r);
        throw new ArgumentException($"fps '{text}' is not a frame rate (e.g. 25, 29.97 or 30000/1001)");
    }

    /// <summary>
    /// The rate whose frame duration is closest to the gap between two frame times. A gap above one second
    /// is taken as milliseconds (ffmpeg): rates below 1 fps are not video. Integer rates and the NTSC rates
    /// (N·1000/1001) are tried; when none is within half a millisecond, the rate is rounded to 1/1000.
    /// </summary>
    public static (int Num, int Den) FromTimes(double first, double second)
    {
        double gap = second - first;
        if (!(gap > 0) || !double.IsFinite(gap)) return (25, 1);
        double seconds = gap > 1 ? gap / 1000 : gap;
        var candidates = Enumerable.Range(1, 240).Select(r => (Num: r, Den: 1))
            .Concat(new[] { 24, 30, 48, 60, 120 }.Select(r => (Num: r * 1000, Den: 1001)));
        var best = candidates.MinBy(c => Math.Abs((double)c.Den / c.Num - seconds));
        if (Math.Abs((double)best.Den / best.Num - seconds) <= 0.0005) return best;
        return Rational(1 / seconds);
    }

    private static (int Num, int Den) Rational(double rate)
    {
        int num = (int)Math.Round(rate * 1000), den = 1000;
        int g = Gcd(num, den);
        return (Math.Max(1, num / g), den / g);
    }

    private static int Gcd(int a, int b) => b == 0 ? Math.Max(a, 1) : Gcd(b, a % b);
}

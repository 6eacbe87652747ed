namespace WfVae.Model;

/// <summary>The comparison metric of the official reference data (golden README).</summary>
public static class Conformance
{
    /// <summary>
    /// rel_err(a, e) = max|a − e| / max(1e-6, rms(e)); infinity when the lengths differ, NaN when any
    /// difference is NaN (so a NaN never passes a bound).
    /// </summary>
    public static double RelErr(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
    {
        if (actual.Length != expected.Length) return double.PositiveInfinity;
        if (expected.Length == 0) return 0;
        double maxDiff = 0, sumSq = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double d = Math.Abs((double)actual[i] - expected[i]);
            if (double.IsNaN(d)) return double.NaN;
            if (d > maxDiff) maxDiff = d;
            sumSq += (double)expected[i] * expected[i];
        }
        return maxDiff / Math.Max(1e-6, Math.Sqrt(sumSq / expected.Length));
    }
}

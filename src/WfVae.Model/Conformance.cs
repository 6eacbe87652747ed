using WfVae.Runtime;

namespace WfVae.Model;

/// <summary>The comparison metric of the official reference data (golden README) and the bounds the engine keeps.</summary>
public static class Conformance
{
    /// <summary>
    /// Bound on rel_err of mean and logvar against the official outputs. fp32: the golden README's 1e-4. fp16: 1e-2,
    /// about twice the worst measured on the six golden cases (5.2e-3; rounding the weights alone to fp16 costs ~3e-3).
    /// </summary>
    public static double LatentBound(Precision p) => p == Precision.Fp16 ? 1e-2 : 1e-4;

    /// <summary>Bound on rel_err of the decoded video. fp32: 3e-4 (golden README). fp16: 4e-2 (worst measured 1.9e-2).</summary>
    public static double DecodedBound(Precision p) => p == Precision.Fp16 ? 4e-2 : 3e-4;

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

using System.Collections.Concurrent;
using Xunit;

namespace WfVae.Tests.Reference;

/// <summary>
/// Tolerances of the reference tests, all in the golden README's metric
/// rel_err(a, e) = max|a − e| / max(1e-6, rms(e)).
///
/// Where they come from (tests/fixtures/golden/README.md, "Metric and bounds"):
/// * The golden files are the official PyTorch model in float32. Re-running the same code in
///   float64 moves them by at most 6.4e-6 (mean), 7.3e-6 (logvar), 5.2e-5 (decoded) and 1.1e-4
///   (worst intermediate tap: dec.norm_out_silu of the groupnorm case). Our reference accumulates in
///   double, so it sits close to that float64 result: the expected differences are of that size.
/// * Recommended bounds, adopted here: mean/logvar ≤ 1e-4, decoded ≤ 3e-4, taps ≤ 1e-3 (taps locate
///   a difference, they do not judge conformance). The bounds still fail the plausible slips the
///   README measured: Haar κ = 1/√8 instead of 0.3536f moves mean by ≥ 4.4e-4 and decoded by
///   ≥ 4.6e-4; norm eps 1e-5 instead of 1e-6 moves mean by ≥ 2.5e-4. A looser bound (1e-3) would
///   accept those.
/// * Single operators fed with golden taps (OpFromTap) use 1e-4: one op adds only PyTorch's own
///   float32 rounding of that op (~1e-6) on top of the tap's.
/// * Exact identities (2D Haar round trip, interpolation tables) use 1e-6 absolute: float32
///   rounding of values of order 1.
/// </summary>
public static class ReferenceTolerance
{
    public const double Latent = 1e-4;    // mean, logvar
    public const double Decoded = 3e-4;   // decoded video
    public const double Tap = 1e-3;       // every intermediate tap of the full model
    public const double OpFromTap = 1e-4; // one CpuOps operator applied to a golden tap
    public const double Identity = 1e-6;  // algebraic identities, absolute

    public static readonly string[] Cases = { "tiny", "small16", "image", "nearest", "groupnorm", "long" };

    public static TheoryData<string> CaseData()
    {
        var d = new TheoryData<string>();
        foreach (var c in Cases) d.Add(c);
        return d;
    }

    private static readonly ConcurrentDictionary<string, Lazy<GoldenCase>> Loaded = new();

    /// <summary>Golden cases are loaded once per test run.</summary>
    public static GoldenCase Golden(string name) =>
        Loaded.GetOrAdd(name, n => new Lazy<GoldenCase>(() => GoldenCase.Load(n))).Value;
}

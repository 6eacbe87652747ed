using WfVae.Runtime;
using WfVae.Tests.Reference;

namespace WfVae.Tests.Operators;

/// <summary>
/// fp16 operator tests. Method: inputs (and conv weights/bias) are rounded to halves on the host first
/// (<see cref="Round(CpuTensor)"/>, System.Half: nearest-even, as device.Upload does), the CPU reference runs on those
/// rounded values (double accumulation: exact for our purposes), and the fp16 GPU output is compared with it.
///
/// Error model (shaders/common.glsl): an fp16 shader widens every load exactly, computes in fp32 exactly like the fp32
/// shader, and rounds the result once to a half on store. Round-to-nearest in a format with an 11-bit significand
/// moves a value v by at most u·|v| with u = 2⁻¹¹ ≈ 4.9e-4 (halves below 2⁻¹⁴ are subnormal: at most 2⁻²⁵ absolute,
/// negligible against the rms of our O(1) outputs). So for an output e, in the golden metric
///   rel_err = max|a − e| / rms(e) ≤ u · max|e| / rms(e) + (the fp32 test's own bound),
/// which is <see cref="Tolerance"/>. For our outputs max|e|/rms(e) is 1.7 (uniform) to ~4.5 (sums of many terms),
/// i.e. bounds of 1e-3 to 2.5e-3. Any indexing, stride, or precision-variant mix-up moves single elements by O(rms)
/// and fails it; so does a second rounding to half in the chain (≥ 2× the first's worst case appears quickly
/// over thousands of elements).
/// </summary>
internal static class Fp16
{
    /// <summary>Unit roundoff of IEEE binary16 (round to nearest): 2⁻¹¹.</summary>
    public const double U = 1.0 / 2048;

    public static float Round(float v) => (float)(Half)v;

    public static float[] Round(float[] v) => v.Select(Round).ToArray();

    public static CpuTensor Round(CpuTensor t) => new(t.C, t.T, t.H, t.W, Round(t.Data));

    /// <summary>The values as a tensor of <paramref name="p"/> holds them: rounded to halves for fp16, unchanged for fp32.</summary>
    public static CpuTensor In(this CpuTensor t, Precision p) => p == Precision.Fp16 ? Round(t) : t;

    public static float[] In(this float[] v, Precision p) => p == Precision.Fp16 ? Round(v) : v;

    public static float In(this float v, Precision p) => p == Precision.Fp16 ? Round(v) : v;

    public static double MaxAbs(CpuTensor t) => t.Data.Length == 0 ? 0 : t.Data.Max(v => Math.Abs((double)v));

    /// <summary>
    /// rel_err bound for an output stored in <paramref name="p"/>: the fp32 bound of the test, plus for fp16 the one
    /// final rounding, u · max|e| / rms(e) (see the class comment).
    /// </summary>
    public static double Tolerance(Precision p, CpuTensor expected, double fp32Tol) =>
        p == Precision.Fp16 ? fp32Tol + U * MaxAbs(expected) / Math.Max(1e-6, expected.Rms()) : fp32Tol;
}

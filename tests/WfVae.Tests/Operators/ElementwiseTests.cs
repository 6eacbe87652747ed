using WfVae.Operators;
using WfVae.Runtime;
using WfVae.Tests.Reference;
using Xunit;
using Xunit.Abstractions;
using static WfVae.Tests.Operators.WaveTestTensors;

namespace WfVae.Tests.Operators;

/// <summary>
/// Elementwise operators (shaders/elementwise.comp) against plain C# loops on odd shapes and strided views.
/// Add and copy are single IEEE operations (correctly rounded in Vulkan and in C#): bit-exact. Axpy may be
/// contracted into an fma by the driver: one rounding less, so |Δ| ≤ 2⁻²³·(|a·s| + |b|). SiLU uses the
/// device's exp (Vulkan: 3 + 2|x| ulp) and division (2.5 ulp): for |x| ≤ 4 about 15 ulp ≈ 1e-6 relative; we
/// allow 2e-6·|e| + 1e-9.
///
/// fp16 (see <see cref="Fp16"/>): inputs are rounded to halves first, the shader computes in fp32 and rounds the result
/// once to a half. Add and copy stay bit-exact against C#'s (Half)(p + q): the fp32 sum of two halves rounded again to
/// a half is the correctly rounded half sum (double rounding is innocuous when 24 ≥ 2·11 + 2 significand bits,
/// Figueroa 1995), and a copy of halves is exact. SiLU and axpy get u·|e| = 2⁻¹¹·|e| more (+ 2⁻²⁵ absolute for
/// results in the half subnormal range).
/// </summary>
[Collection("gpu")]
public sealed class ElementwiseTests(GpuFixture gpu, ITestOutputHelper output)
{
    private VulkanDevice Dev => gpu.Device;

    private static CpuTensor Map(CpuTensor a, CpuTensor b, Func<float, float, float> f)
        => new(a.C, a.T, a.H, a.W, a.Data.Zip(b.Data, f).ToArray());

    [Theory]
    [InlineData(5, 1, 7, 13, Precision.Fp32)]
    [InlineData(3, 5, 1, 9, Precision.Fp32)]
    [InlineData(17, 2, 3, 3, Precision.Fp32)]
    [InlineData(5, 1, 7, 13, Precision.Fp16)]
    [InlineData(17, 2, 3, 3, Precision.Fp16)]
    public void Add_OnStridedViews_IsExact(int c, int t, int h, int w, Precision p)
    {
        var a = CpuTensor.Random(c, t, h, w, seed: 1).In(p);
        var b = CpuTensor.Random(c, t, h, w, seed: 2, scale: 3f).In(p);
        var (ao, av) = UpStrided(Dev, a, 1, 2, p);
        var (bo, bv) = UpStrided(Dev, b, 0, 1, p);
        var (yo, yv) = Padded(Dev, c, t, h, w, 3, 0, p);
        using (ao)
        using (bo)
        using (yo)
        {
            using (var rec = Dev.BeginCommands())
            {
                Elementwise.Add(rec, av, bv, yv);
                rec.Submit();
            }
            Assert.True(BitwiseEqual(Down(Dev, yv), Map(a, b, (u, v) => (u + v).In(p))), "add differs");
            Assert.True(OutsideUntouched(Dev, yo, 3, c), "add wrote outside its slice");
        }
        gpu.AssertClean();
    }

    [Fact]
    public void Add_InPlace_IsExact()
    {
        var a = CpuTensor.Random(5, 3, 7, 13, seed: 3);
        var b = CpuTensor.Random(5, 3, 7, 13, seed: 4);
        using var ga = Up(Dev, a);
        using var gb = Up(Dev, b);
        using (var rec = Dev.BeginCommands())
        {
            Elementwise.Add(rec, ga, gb, ga);   // a += b
            Elementwise.Add(rec, ga, gb, gb);   // b = (a + b) + b, ordered after the first by the recorder's barrier
            rec.Submit();
        }
        var sum = Map(a, b, (p, q) => p + q);
        Assert.True(BitwiseEqual(Down(Dev, ga), sum));
        Assert.True(BitwiseEqual(Down(Dev, gb), Map(sum, b, (p, q) => p + q)));
        gpu.AssertClean();
    }

    [Theory]
    [InlineData(5, 3, 7, 13, false, Precision.Fp32)]
    [InlineData(33, 1, 3, 5, true, Precision.Fp32)]
    [InlineData(5, 3, 7, 13, false, Precision.Fp16)]
    [InlineData(33, 1, 3, 5, true, Precision.Fp16)]
    public void Silu_MatchesDoubleReference(int c, int t, int h, int w, bool inPlace, Precision p)
    {
        var a = CpuTensor.Random(c, t, h, w, seed: 5, scale: 4f).In(p);
        var (ao, av) = UpStrided(Dev, a, 2, 1, p);
        using var gy = Dev.CreateTensor(c, t, h, w, p);
        // fp16: one more rounding of the result (class comment).
        double relTol = 2e-6 + (p == Precision.Fp16 ? Fp16.U : 0), absTol = 1e-9 + (p == Precision.Fp16 ? Math.Pow(2, -25) : 0);
        using (ao)
        {
            var y = inPlace ? av : gy;
            using (var rec = Dev.BeginCommands())
            {
                Elementwise.Silu(rec, av, y);
                rec.Submit();
            }
            var got = Down(Dev, y);
            double worst = 0;
            for (int i = 0; i < a.Length; i++)
            {
                double x = a.Data[i], e = x / (1 + Math.Exp(-x));
                double err = Math.Abs(got.Data[i] - e) / (relTol * Math.Abs(e) + absTol);
                worst = Math.Max(worst, err);
            }
            output.WriteLine($"silu {p} worst error / tolerance = {worst:F3}");
            Assert.True(worst <= 1, $"silu error {worst:F2}× the tolerance");
            if (inPlace) Assert.True(OutsideUntouched(Dev, ao, 2, c), "in-place silu wrote outside its slice");
            // Matches the reference operator too.
            var reference = CpuOps.Silu(a);
            ReferenceAssert.Close(output, $"silu {p}", got, reference, Fp16.Tolerance(p, reference, 2e-6));
        }
        gpu.AssertClean();
    }

    [Theory]
    [InlineData(Precision.Fp32)]
    [InlineData(Precision.Fp16)]
    public void CopyIntoChannelSlices_IsChannelConcat(Precision p)
    {
        // The concat of a [5 ch] and b [3 ch] built by two copies into slices of one 8-channel tensor.
        int t = 3, h = 7, w = 13;
        var a = CpuTensor.Random(5, t, h, w, seed: 6).In(p);
        var b = CpuTensor.Random(3, t, h, w, seed: 7).In(p);
        using var ga = Up(Dev, a, p);
        var (bo, bv) = UpStrided(Dev, b, 2, 2, p);   // the source may be strided too
        using var cat = Dev.CreateTensor(8, t, h, w, p);
        using (bo)
        {
            using (var rec = Dev.BeginCommands())
            {
                Elementwise.Copy(rec, ga, cat.Channels(0, 5));
                Elementwise.Copy(rec, bv, cat.Channels(5, 3));
                rec.Submit();
            }
        }
        Assert.True(BitwiseEqual(Down(Dev, cat), CpuTensor.ConcatChannels(a, b)), "concat by copies differs");
        gpu.AssertClean();
    }

    [Theory]
    [InlineData(-0.75f, false, Precision.Fp32)]
    [InlineData(1.3f, true, Precision.Fp32)]
    [InlineData(-0.75f, false, Precision.Fp16)]
    [InlineData(1.3f, true, Precision.Fp16)]
    public void Axpy_MatchesLoopWithinOneRounding(float scale, bool inPlace, Precision p)
    {
        int c = 5, t = 2, h = 7, w = 13;
        var a = CpuTensor.Random(c, t, h, w, seed: 8).In(p);
        var b = CpuTensor.Random(c, t, h, w, seed: 9, scale: 2f).In(p);
        using var ga = Up(Dev, a, p);
        var (bo, bv) = UpStrided(Dev, b, 1, 1, p);
        using var gy = Dev.CreateTensor(c, t, h, w, p);
        using (bo)
        {
            var y = inPlace ? bv : gy;   // b = a·s + b
            using (var rec = Dev.BeginCommands())
            {
                Elementwise.Axpy(rec, ga, scale, bv, y);
                rec.Submit();
            }
            var got = Down(Dev, y);
            for (int i = 0; i < a.Length; i++)
            {
                float e = a.Data[i] * scale + b.Data[i];
                double tol = Math.Pow(2, -23) * (Math.Abs(a.Data[i] * scale) + Math.Abs(b.Data[i]));
                if (p == Precision.Fp16) tol = tol * (1 + Fp16.U) + Fp16.U * Math.Abs(e) + Math.Pow(2, -25); // + the final rounding to half
                Assert.True(Math.Abs(got.Data[i] - e) <= tol, $"axpy[{i}] = {got.Data[i]} vs {e}");
            }
            if (inPlace) Assert.True(OutsideUntouched(Dev, bo, 1, c), "in-place axpy wrote outside its slice");
        }
        gpu.AssertClean();
    }

    [Fact]
    public void MismatchedShapesAreRejected()
    {
        using var a = Dev.CreateTensor(3, 2, 5, 7);
        using var b = Dev.CreateTensor(3, 2, 5, 6);
        using var rec = Dev.BeginCommands();
        Assert.Throws<ArgumentException>(() => Elementwise.Add(rec, a, b, a));
        Assert.Throws<ArgumentException>(() => Elementwise.Copy(rec, a, b));
    }
}

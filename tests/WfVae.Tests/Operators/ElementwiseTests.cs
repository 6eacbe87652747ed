using WfVae.Operators;
using WfVae.Runtime;
using WfVae.Tests.Reference;
using Xunit;
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
[Collection(Gpu.Ops)]
public sealed class ElementwiseTests(GpuFixture gpu)
{
    private VulkanDevice Dev => gpu.Device;

    private static CpuTensor Map(CpuTensor a, CpuTensor b, Func<float, float, float> f)
        => new(a.C, a.T, a.H, a.W, a.Data.Zip(b.Data, f).ToArray());

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

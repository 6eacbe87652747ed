using WfVae.Operators;
using WfVae.Runtime;
using WfVae.Tests.Reference;
using Xunit;
using Xunit.Abstractions;
using static WfVae.Tests.Operators.WaveTestTensors;

namespace WfVae.Tests.Operators;

/// <summary>
/// Spatial 2× resampling (shaders/resample.comp) and the temporal plan against <see cref="CpuOps"/>.
/// Nearest 2× is a copy: bit-exact. Blend + bilinear: the GPU evaluates fma(a, wa, b·wb) for the blend and
/// three fma levels (each with one rounded product) for the bilinear weights, i.e. ≤ 5 roundings each
/// ≤ 2⁻²⁴ relative to max|x|, where the reference rounds once from a double sum: |error| ≤ ~3e-7·max|x|, and
/// rms(expected) ≈ 0.5·max|x| for uniform inputs, so rel_err ≤ ~6e-7. We allow 1e-6; a wrong weight (0.25 vs
/// 0.75) or a wrong neighbour gives errors of order 0.1.
/// fp16 (<see cref="Fp16"/>): inputs rounded to halves on the host; nearest 2× copies halves (still bit-exact); the
/// interpolations round their fp32 result once more to a half: rel_err ≤ 1e-6 + 2⁻¹¹·max|e|/rms(e) (≈ 1e-3 here).
/// </summary>
[Collection(Gpu.Ops)]
public sealed class ResampleTests(GpuFixture gpu, ITestOutputHelper output)
{
    private const double Tol = 1e-6;
    private VulkanDevice Dev => gpu.Device;

    private void Check(string what, CpuTensor actual, CpuTensor expected, double tol = Tol) =>
        ReferenceAssert.Close(output, what, actual, expected, tol);

    [Fact]
    public void TemporalPlan_FollowsTheSpecTable()
    {
        Assert.Equal(new[] { (0, 0, 1f, 0f) }, Resample.TemporalPlan(1, true));
        Assert.Equal(new[] { (0, 0, 1f, 0f), (1, 1, 1f, 0f), (1, 1, 1f, 0f) }, Resample.TemporalPlan(2, true));
        Assert.Equal(new[] { (0, 0, 1f, 0f), (1, 1, 1f, 0f), (1, 2, 0.75f, 0.25f), (1, 2, 0.25f, 0.75f), (2, 2, 1f, 0f) },
            Resample.TemporalPlan(3, true));
        Assert.Equal(new[] { (0, 0, 1f, 0f), (1, 1, 1f, 0f), (1, 1, 1f, 0f), (2, 2, 1f, 0f), (2, 2, 1f, 0f) },
            Resample.TemporalPlan(3, false));
        for (int t = 1; t <= 9; t++)
        {
            var tri = Resample.TemporalPlan(t, true);
            Assert.Equal(2 * t - 1, tri.Count);
            // docs/model.md#upsampling: U[2j−1] = .25 M[j−1] + .75 M[j] (2 ≤ j ≤ t−1), U[2j] = .75 M[j] + .25 M[j+1] (1 ≤ j ≤ t−2).
            for (int j = 2; j <= t - 1; j++) Assert.Equal((j - 1, j, 0.25f, 0.75f), tri[2 * j - 1]);
            for (int j = 1; j <= t - 2; j++) Assert.Equal((j, j + 1, 0.75f, 0.25f), tri[2 * j]);
            if (t >= 2) Assert.Equal((t - 1, t - 1, 1f, 0f), tri[2 * t - 2]);
        }
    }

    [Theory]
    [InlineData(1, true)]
    [InlineData(2, true)]
    [InlineData(3, true)]
    [InlineData(6, true)]
    [InlineData(1, false)]
    [InlineData(2, false)]
    [InlineData(3, false)]
    [InlineData(6, false)]
    public void TemporalPlan_AppliedOnTheCpu_IsTemporalUpsample2x(int t, bool trilinear)
    {
        var m = CpuTensor.Random(3, t, 3, 5, seed: 30 + t);
        var plan = Resample.TemporalPlan(t, trilinear);
        var parts = plan.Select(e => Blend(m.SliceFrames(e.A, 1), m.SliceFrames(e.B, 1), e.Wa, e.Wb)).ToArray();
        var expected = CpuOps.TemporalUpsample2x(m, trilinear ? TemporalInterpolation.Trilinear : TemporalInterpolation.Nearest);
        Assert.True(BitwiseEqual(CpuTensor.ConcatFrames(parts), expected), "plan differs from CpuOps.TemporalUpsample2x");
    }

    private static CpuTensor Blend(CpuTensor a, CpuTensor b, float wa, float wb)
        => new(a.C, a.T, a.H, a.W, a.Data.Zip(b.Data, (p, q) => (float)((double)wa * p + (double)wb * q)).ToArray());

    /// <summary>The Spatial2xTime2x3DUpsample resampling step composed as the stream object does it: one BlendBilinear2x per plan entry.</summary>
    [Theory]
    [InlineData(1, true, 1, 1)]
    [InlineData(2, true, 3, 5)]
    [InlineData(3, true, 1, 7)]
    [InlineData(6, true, 5, 3)]
    [InlineData(1, false, 3, 5)]
    [InlineData(2, false, 1, 1)]
    [InlineData(3, false, 5, 1)]
    [InlineData(6, false, 3, 5)]
    [InlineData(3, true, 5, 7, Precision.Fp16)]
    [InlineData(6, true, 5, 3, Precision.Fp16)]
    [InlineData(3, false, 5, 1, Precision.Fp16)]
    public void TemporalPlanThroughBlendBilinear_MatchesTemporalThenBilinear(int t, bool trilinear, int h, int w, Precision p = Precision.Fp32)
    {
        int c = 5;
        var m = CpuTensor.Random(c, t, h, w, seed: 40 + t * 3 + h).In(p);
        var (mo, mv) = UpStrided(Dev, m, 2, 1, p);
        using var gy = Dev.CreateTensor(c, 2 * t - 1, 2 * h, 2 * w, p);
        using (mo)
        {
            using var rec = Dev.BeginCommands();
            var plan = Resample.TemporalPlan(t, trilinear);
            for (int n = 0; n < plan.Count; n++)
            {
                var (a, b, wa, wb) = plan[n];
                Resample.BlendBilinear2x(rec, mv.Frames(a, 1), mv.Frames(b, 1), wa, wb, gy.Frames(n, 1));
            }
            rec.Submit();
        }
        var mode = trilinear ? TemporalInterpolation.Trilinear : TemporalInterpolation.Nearest;
        var expected = CpuOps.BilinearUpsample2x(CpuOps.TemporalUpsample2x(m, mode));
        Check($"S2T2 up {p} t={t} {mode} {h}x{w}", Down(Dev, gy), expected, Fp16.Tolerance(p, expected, Tol));
        gpu.AssertClean();
    }

    [Fact]
    public void ARunOfFramesInOneDispatch_IsBitwiseThePerFrameDispatches()
    {
        // U[2j−1] for j = 2 … 4 share the weights (.25, .75): one dispatch over frame ranges of M, against one
        // dispatch per frame (what a stream does one latent at a time).
        int c = 3, h = 5, w = 7;
        var m = CpuTensor.Random(c, 5, h, w, seed: 55);
        using var gm = Up(Dev, m);
        using var run = Dev.CreateTensor(c, 3, 2 * h, 2 * w);
        using var single = Dev.CreateTensor(c, 3, 2 * h, 2 * w);
        using (var rec = Dev.BeginCommands())
        {
            Resample.BlendBilinear2x(rec, gm.Frames(1, 3), gm.Frames(2, 3), 0.25f, 0.75f, run);
            for (int k = 0; k < 3; k++)
                Resample.BlendBilinear2x(rec, gm.Frames(1 + k, 1), gm.Frames(2 + k, 1), 0.25f, 0.75f, single.Frames(k, 1));
            rec.Submit();
        }
        var got = Down(Dev, run);
        Assert.True(BitwiseEqual(got, Down(Dev, single)), "frame-run dispatch differs from per-frame dispatches");
        var expected = CpuOps.BilinearUpsample2x(Blend(m.SliceFrames(1, 3), m.SliceFrames(2, 3), 0.25f, 0.75f));
        Check("run of blended frames", got, expected);
        gpu.AssertClean();
    }

    [Fact]
    public void WrongShapesAreRejected()
    {
        using var x = Dev.CreateTensor(3, 2, 5, 7);
        using var y = Dev.CreateTensor(3, 2, 10, 13);
        using var rec = Dev.BeginCommands();
        Assert.Throws<ArgumentException>(() => Resample.Nearest2x(rec, x, y));
        Assert.Throws<ArgumentException>(() => Resample.BlendBilinear2x(rec, x, x.Frames(0, 1), 0.5f, 0.5f, y));
        Assert.Throws<ArgumentOutOfRangeException>(() => Resample.TemporalPlan(0, true));
    }
}

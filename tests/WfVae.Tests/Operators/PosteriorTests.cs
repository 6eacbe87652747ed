using WfVae.Operators;
using WfVae.Runtime;
using WfVae.Tests.Reference;
using Xunit;
using Xunit.Abstractions;
using static WfVae.Tests.Operators.WaveTestTensors;

namespace WfVae.Tests.Operators;

/// <summary>
/// Posterior split and seeded sampling (shaders/posterior.comp). The split is a copy and a clamp: bit-exact.
/// Sampling is checked against a CPU twin of the generator (Philox4x32-10 + Box-Muller, computed in double):
/// the Philox words are integers and must agree exactly; the float32 log/sqrt/cos/exp of the device cost a
/// few ulps (|ε| ≤ 5.8, Vulkan's float32 log/cos error is ~1e-7 absolute on the devices we run), so
/// |ε_gpu − ε_cpu| ≤ 1e-5 is generous for rounding and far below the O(1) error of any wrong key, counter
/// layout or bit mapping.
/// fp16 (<see cref="Fp16"/>): inputs rounded to halves on the host. The split stays bit-exact (a copy of halves and a
/// clamp to −30 and 20, both halves); a sample is computed in fp32 and rounded once to a half, which adds at most
/// 2⁻¹¹·|sample| ≤ 2⁻¹¹·(|mean| + 6·std) (|ε| ≤ 5.8): the scaled bound below grows by 2⁻¹¹.
/// </summary>
[Collection(Gpu.Ops)]
public sealed class PosteriorTests(GpuFixture gpu, ITestOutputHelper output)
{
    private VulkanDevice Dev => gpu.Device;

    [Fact]
    public void CpuTwin_MatchesPhiloxKnownAnswers()
    {
        // Random123's published known-answer vectors for philox4x32-10.
        Assert.Equal((0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u), CpuPhilox.Philox(0, 0, 0, 0, 0, 0));
        Assert.Equal((0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu),
            CpuPhilox.Philox(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu));
        Assert.Equal((0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u),
            CpuPhilox.Philox(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u));
    }

    // ---------------------------------------------------------------- split

    // ---------------------------------------------------------------- sampling

    private CpuTensor SampleOnGpu(CpuTensor mean, CpuTensor logvar, ulong seed, int firstFrame = 0, Precision p = Precision.Fp32)
    {
        using var gm = Up(Dev, mean, p);
        using var gl = Up(Dev, logvar, p);
        using var gs = Dev.CreateTensor(mean.C, mean.T, mean.H, mean.W, p);
        using (var rec = Dev.BeginCommands())
        {
            Posterior.Sample(rec, gm, gl, gs, seed, firstFrame);
            rec.Submit();
        }
        return Down(Dev, gs);
    }

    [Fact]
    public void Sample_OfStandardNormal_IsTheCpuTwinsEps()
    {
        int l = 5, t = 3, h = 7, w = 9;
        ulong seed = 0x0123456789abcdefUL;
        var zero = new CpuTensor(l, t, h, w);
        var got = SampleOnGpu(zero, zero, seed, firstFrame: 4);
        double max = 0;
        for (int c = 0; c < l; c++)
            for (int f = 0; f < t; f++)
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++)
                        max = Math.Max(max, Math.Abs(got[c, f, y, x] - CpuPhilox.Eps(seed, 4 + f, c, y, x)));
        output.WriteLine($"max |eps_gpu - eps_cpu| = {max:E2}");
        Assert.True(max <= 1e-5, $"eps differs from the CPU twin by {max:E3}");
        gpu.AssertClean();
    }

    [Fact]
    public void Sample_StreamedFramesAreBitwiseTheWholeClip_AndSeedsDiffer()
    {
        int l = 4, t = 5, h = 4, w = 6;
        var mean = CpuTensor.Random(l, t, h, w, seed: 3);
        var logvar = CpuTensor.Random(l, t, h, w, seed: 4);
        var whole = SampleOnGpu(mean, logvar, 7);
        var head = SampleOnGpu(mean.SliceFrames(0, 2), logvar.SliceFrames(0, 2), 7, 0);
        var tail = SampleOnGpu(mean.SliceFrames(2, 3), logvar.SliceFrames(2, 3), 7, 2);
        Assert.True(BitwiseEqual(CpuTensor.ConcatFrames(head, tail), whole), "streamed sampling differs from whole clip");
        var other = SampleOnGpu(mean, logvar, 8);
        int same = whole.Data.Zip(other.Data).Count(p => p.First == p.Second);
        Assert.True(same < whole.Length / 100, $"seed 7 and seed 8 agree on {same} of {whole.Length} values");
        gpu.AssertClean();
    }

    [Fact]
    public void Sample_InPlaceOverStridedViews_Works()
    {
        int l = 3, t = 2, h = 5, w = 3;
        var mean = CpuTensor.Random(l, t, h, w, seed: 11);
        var logvar = CpuTensor.Random(l, t, h, w, seed: 12);
        var expected = SampleOnGpu(mean, logvar, 5);
        var (mo, mv) = UpStrided(Dev, mean, 2, 1);
        var (lo, lv) = UpStrided(Dev, logvar, 0, 4);
        using (mo)
        using (lo)
        {
            using (var rec = Dev.BeginCommands())
            {
                Posterior.Sample(rec, mv, lv, mv, 5);
                rec.Submit();
            }
            Assert.True(BitwiseEqual(Down(Dev, mv), expected), "in-place strided sample differs");
            Assert.True(OutsideUntouched(Dev, mo, 2, l), "Sample wrote outside its slice");
        }
        gpu.AssertClean();
    }

    [Fact]
    public void Eps_IsStandardNormalAndUncorrelated()
    {
        // 16 × 4 × 40 × 40 = 102 400 draws. Standard errors: mean 1/√n = 0.0031, std √(1/(2n)) = 0.0022,
        // correlation 1/√n' with n' = 25 600 pairs = 0.0063. Bounds at about 5 standard errors.
        int l = 16, t = 4, h = 40, w = 40;
        var zero = new CpuTensor(l, t, h, w);
        var e = SampleOnGpu(zero, zero, 2024);
        int n = e.Length;
        double mean = e.Data.Average(v => (double)v);
        double std = Math.Sqrt(e.Data.Sum(v => ((double)v - mean) * ((double)v - mean)) / n);
        double tail2 = e.Data.Count(v => Math.Abs(v) > 2) / (double)n;  // N(0,1): 0.0455
        double fourth = e.Data.Average(v => Math.Pow(v, 4));             // N(0,1): 3
        output.WriteLine($"mean {mean:F4} std {std:F4} P(|e|>2) {tail2:F4} E[e^4] {fourth:F3}");
        Assert.InRange(mean, -0.016, 0.016);
        Assert.InRange(std, 0.989, 1.011);
        Assert.InRange(tail2, 0.0455 - 0.0035, 0.0455 + 0.0035);
        Assert.InRange(fourth, 2.85, 3.15);
        // Neighbours in x, in channel and in frame are uncorrelated (a counter/key mix-up would correlate them).
        Assert.InRange(Corr(e, (c, f, y, x) => (c, f, y, x + 1)), -0.035, 0.035);
        Assert.InRange(Corr(e, (c, f, y, x) => (c + 1, f, y, x)), -0.035, 0.035);
        Assert.InRange(Corr(e, (c, f, y, x) => (c, f + 1, y, x)), -0.035, 0.035);
        gpu.AssertClean();
    }

    private static double Corr(CpuTensor e, Func<int, int, int, int, (int C, int F, int Y, int X)> other)
    {
        double s = 0, sa = 0, sb = 0, saa = 0, sbb = 0;
        int n = 0;
        for (int c = 0; c < e.C; c += 2)
            for (int f = 0; f < e.T; f += 2)
                for (int y = 0; y < e.H; y++)
                    for (int x = 0; x < e.W; x += 2)
                    {
                        var o = other(c, f, y, x);
                        if (o.C >= e.C || o.F >= e.T || o.X >= e.W) continue;
                        double a = e[c, f, y, x], b = e[o.C, o.F, o.Y, o.X];
                        s += a * b; sa += a; sb += b; saa += a * a; sbb += b * b; n++;
                    }
        double cov = s / n - sa / n * (sb / n);
        return cov / Math.Sqrt((saa / n - sa / n * (sa / n)) * (sbb / n - sb / n * (sb / n)));
    }

    [Fact]
    public void WrongShapesAreRejected()
    {
        using var m = Dev.CreateTensor(5, 2, 3, 3);
        using var half = Dev.CreateTensor(3, 2, 3, 3);
        using var rec = Dev.BeginCommands();
        Assert.Throws<ArgumentException>(() => Posterior.Split(rec, m, half, half));
        Assert.Throws<ArgumentException>(() => Posterior.Sample(rec, m, half, m, 1));
    }
}

using WfVae.Operators;
using WfVae.Runtime;
using WfVae.Tests.Reference;
using Xunit;
using Xunit.Abstractions;

namespace WfVae.Tests.Operators;

/// <summary>
/// LayerNorm / GroupNorm (+ fused SiLU) against CpuOps (double accumulation), on odd shapes, strided views in
/// and out, in place, several frame counts.
/// </summary>
[Collection(Gpu.Ops)]
public sealed class NormTests(GpuFixture gpu, ITestOutputHelper output)
{
    // LayerNorm: per voxel, fp32 sums of C ≤ 64 terms (mean, then centred squares) give relative errors of
    // ~sqrt(C)·6e-8 ≈ 5e-7 in μ and σ; with the output rounding and SiLU's exp the max error stays
    // ~1e-6 of rms. 1e-5 keeps a 10× margin and is still far below any semantic slip (unbiased instead of
    // biased variance is 1/C ≥ 1.5 % off, a missing gamma/beta or wrong channel stride is O(1)).
    private const double LayerTol = 1e-5;
    // GroupNorm: chunk sums of ≤ 4096 fp32 values in 256 strided partials + a fixed tree, merged with Chan's
    // formula: μ and σ² carry ~1e-7 relative error, so outputs match to ~1e-6 of rms as for LayerNorm.
    private const double GroupTol = 1e-5;
    // fp16 (see Fp16): x rounded to halves on the host (gamma/beta and the statistics stay fp32), the reference run on
    // the rounded x; the shader's fp32 arithmetic is the one above and y is rounded once to a half, which adds
    // 2⁻¹¹·max|e|/rms(e) (≈ 1.5e-3 to 2.5e-3 here) to the fp32 tolerance.

    private VulkanDevice Dev => gpu.Device;

    /// <summary>C affine values uniform in [offset − 0.5, offset + 0.5).</summary>
    private static CpuTensor Affine(int c, int seed, float offset)
    {
        var r = CpuTensor.Random(c, 1, 1, 1, seed, 0.5f);
        for (int i = 0; i < c; i++) r.Data[i] += offset;
        return r;
    }

    /// <summary>Uploads <paramref name="x"/> as channels [before, before + C) of a larger random tensor (a strided view).</summary>
    private (GpuTensor Container, CpuTensor Full, GpuTensor View) Strided(CpuTensor x, int before, int after, int seed,
        Precision p = Precision.Fp32)
    {
        var full = CpuTensor.ConcatChannels(CpuTensor.Random(before, x.T, x.H, x.W, seed + 1), x, CpuTensor.Random(after, x.T, x.H, x.W, seed + 2)).In(p);
        var g = Dev.Upload(full.ToFrameMajor(), full.C, full.T, full.H, full.W, p);
        return (g, full, g.Channels(before, x.C));
    }

    private static CpuTensor Read(VulkanDevice d, GpuTensor t) => CpuTensor.FromFrameMajor(d.Download(t), t.C, t.T, t.H, t.W);

    private void Check(string what, CpuTensor actual, CpuTensor expected, double tol) =>
        ReferenceAssert.Close(output, what, actual, expected, tol);

    /// <summary>The channels of the output container outside the written slice must be untouched.</summary>
    private static void AssertOutsideUntouched(CpuTensor before, CpuTensor after, int c0, int count)
    {
        Assert.Equal(before.SliceChannels(0, c0).Data, after.SliceChannels(0, c0).Data);
        Assert.Equal(before.SliceChannels(c0 + count, before.C - c0 - count).Data, after.SliceChannels(c0 + count, after.C - c0 - count).Data);
    }

    [Theory]
    [InlineData(Precision.Fp32)]
    [InlineData(Precision.Fp16)]
    public void LayerNorm_InPlaceOnAChannelSlice(Precision p)
    {
        var x = CpuTensor.Random(17, 3, 5, 7, 40, 3f).In(p);
        var gamma = Affine(17, 3, 1f);
        var beta = Affine(17, 4, 0f);
        var (xc, full, xv) = Strided(x, 5, 2, 41, p);
        using var _ = xc;
        using var g = Norm.UploadVector(Dev, gamma.Data);
        using var b = Norm.UploadVector(Dev, beta.Data);
        using (var rec = Dev.BeginCommands())
        {
            Norm.LayerNorm(rec, xv, g, b, xv, silu: true);
            rec.Submit();
        }
        var expected = CpuOps.Silu(CpuOps.LayerNorm(x, gamma.Data, beta.Data));
        Check($"LayerNorm in place {p}", Read(Dev, xv), expected, Fp16.Tolerance(p, expected, LayerTol));
        AssertOutsideUntouched(full, Read(Dev, xc), 5, 17);
        gpu.AssertClean();
    }

    [Theory]
    [InlineData(5)]
    [InlineData(4)] // 4x7 planes: norm_texel4 on texel devices
    public void LayerNorm_StreamedFrameByFrameIsBitIdenticalToWholeClip(int h)
    {
        const int c = 33, t = 5, w = 7;
        var x = CpuTensor.Random(c, t, h, w, 50, 2f);
        using var xg = Dev.Upload(x.ToFrameMajor(), c, t, h, w);
        using var whole = Dev.CreateTensor(c, t, h, w);
        using var streamed = Dev.CreateTensor(c, t, h, w);
        using var g = Norm.UploadVector(Dev, Affine(c, 5, 1f).Data);
        using var b = Norm.UploadVector(Dev, Affine(c, 6, 0f).Data);
        using (var rec = Dev.BeginCommands())
        {
            Norm.LayerNorm(rec, xg, g, b, whole, silu: true);
            // Chunks of 1, 2, 2 frames, as a stream would deliver them.
            Norm.LayerNorm(rec, xg.Frames(0, 1), g, b, streamed.Frames(0, 1), silu: true);
            Norm.LayerNorm(rec, xg.Frames(1, 2), g, b, streamed.Frames(1, 2), silu: true);
            Norm.LayerNorm(rec, xg.Frames(3, 2), g, b, streamed.Frames(3, 2), silu: true);
            rec.Submit();
        }
        Assert.Equal(Dev.Download(whole), Dev.Download(streamed));
        gpu.AssertClean();
    }

    /// <summary>
    /// norm_texel (texel-view loads, CPU drivers), norm_texel4 (4 voxels per invocation) and the plain kernel do the
    /// same arithmetic in the same order: same bits, on a channel slice in and out, in place too. 5x7 planes (odd: the
    /// views start off any vec4) run norm_texel on texel devices, 4x7 planes norm_texel4.
    /// </summary>
    [Theory]
    [InlineData(Precision.Fp32, false, 5)]
    [InlineData(Precision.Fp32, true, 5)]
    [InlineData(Precision.Fp16, false, 5)]
    [InlineData(Precision.Fp16, true, 5)]
    [InlineData(Precision.Fp32, false, 4)]
    [InlineData(Precision.Fp32, true, 4)]
    [InlineData(Precision.Fp16, false, 4)]
    [InlineData(Precision.Fp16, true, 4)]
    public void LayerNorm_TexelAndPlainKernelsGiveIdenticalBits(Precision p, bool inPlace, int h)
    {
        const int c = 37, t = 3, w = 7;
        var x = CpuTensor.Random(c + 3, t, h, w, 60, 3f).In(p);
        var gamma = Affine(c, 61, 1f);
        var beta = Affine(c, 62, 0f);
        float[] Run(KernelVariant v)
        {
            var d = gpu.With(v);
            Assert.Equal(v != KernelVariant.Ssbo, Conv.UsesTexels(d, p));
            using var xg = d.Upload(x.ToFrameMajor(), c + 3, t, h, w, p);
            using var yg = d.CreateTensor(c + 3, t, h, w, p);
            using var g = Norm.UploadVector(d, gamma.Data);
            using var b = Norm.UploadVector(d, beta.Data);
            var y = inPlace ? xg.Channels(1, c) : yg.Channels(2, c);
            using (var rec = d.BeginCommands(timestamps: true))
            {
                Norm.LayerNorm(rec, xg.Channels(1, c), g, b, y, silu: true);
                rec.Submit();
                // The kernel that ran, where the device times dispatches (the profile names modules).
                string expected = v == KernelVariant.Ssbo ? "norm" : h % 4 == 0 ? "norm_texel4" : "norm_texel";
                if (d.Info.TimestampsSupported) Assert.Equal(expected + (p == Precision.Fp16 ? "_f16" : ""), Assert.Single(rec.Timings).Kernel);
            }
            return d.Download(y);
        }
        var texel = Run(KernelVariant.Texel);
        var plain = Run(KernelVariant.Ssbo);
        ReferenceAssert.Bits(texel, plain, "texel vs plain");
        gpu.AssertClean();
    }

    [Fact]
    public void GroupNorm_InPlaceWithLargeMeanIsNumericallySound()
    {
        // Mean 100, spread ~1: E[x²] − E[x]² in fp32 would lose ~3 digits here (ulp(1e4) ≈ 1e-3 against σ² ≈ 1/3).
        // The remaining error is the fp32 rounding of x − μ: |μ| · 6e-8 / σ ≈ 1e-5 of rms; tolerance 5e-5.
        const int c = 64, t = 3, h = 9, w = 11;
        var x = CpuTensor.Random(c, t, h, w, 80, 1f);
        for (int i = 0; i < x.Length; i++) x.Data[i] += 100f;
        var gamma = Affine(c, 9, 1f);
        var beta = Affine(c, 10, 0f);
        var (xc, full, xv) = Strided(x, 2, 2, 81);
        using var _ = xc;
        using var g = Norm.UploadVector(Dev, gamma.Data);
        using var b = Norm.UploadVector(Dev, beta.Data);
        using var arena = new TensorArena(Dev);
        using (var rec = Dev.BeginCommands())
        {
            Norm.GroupNorm(rec, xv, g, b, xv, silu: false, perFrame: false, arena);
            rec.Submit();
        }
        Check("GroupNorm in place, mean 100", Read(Dev, xv), CpuOps.GroupNorm(x, gamma.Data, beta.Data), 5e-5);
        AssertOutsideUntouched(full, Read(Dev, xc), 2, c);
        gpu.AssertClean();
    }

    [Fact]
    public void GroupNorm_PerFrameIsBitIdenticalWhenStreamedAndWholeClipDependsOnAllFrames()
    {
        const int c = 32, t = 4, h = 5, w = 7;
        var x = CpuTensor.Random(c, t, h, w, 90, 2f);
        for (int i = 0; i < x.Length; i++) x.Data[i] += (i / (h * w)) % t; // frames differ in mean
        using var xg = Dev.Upload(x.ToFrameMajor(), c, t, h, w);
        using var whole = Dev.CreateTensor(c, t, h, w);
        using var streamed = Dev.CreateTensor(c, t, h, w);
        using var clip = Dev.CreateTensor(c, t, h, w);
        using var g = Norm.UploadVector(Dev, Affine(c, 11, 1f).Data);
        using var b = Norm.UploadVector(Dev, Affine(c, 12, 0f).Data);
        using var arena = new TensorArena(Dev);
        using (var rec = Dev.BeginCommands())
        {
            Norm.GroupNorm(rec, xg, g, b, whole, true, perFrame: true, arena);
            for (int f = 0; f < t; f++) Norm.GroupNorm(rec, xg.Frames(f, 1), g, b, streamed.Frames(f, 1), true, perFrame: true, arena);
            Norm.GroupNorm(rec, xg, g, b, clip, true, perFrame: false, arena);
            rec.Submit();
        }
        var a = Dev.Download(whole);
        Assert.Equal(a, Dev.Download(streamed));
        // Whole-clip statistics are not per frame: the two modes must differ.
        Assert.True(CpuTensor.MaxAbsDiff(CpuTensor.FromFrameMajor(a, c, t, h, w), CpuTensor.FromFrameMajor(Dev.Download(clip), c, t, h, w)) > 0.1);
        gpu.AssertClean();
    }

    [Fact]
    public void RejectsBadArguments()
    {
        using var x = Dev.CreateTensor(48, 1, 3, 3);
        using var g = Norm.UploadVector(Dev, new float[48]);
        using var g2 = Norm.UploadVector(Dev, new float[47]);
        using var arena = new TensorArena(Dev);
        using var rec = Dev.BeginCommands();
        Assert.Throws<ArgumentException>(() => Norm.GroupNorm(rec, x, g, g, x, false, false, arena)); // 48 % 32 != 0
        Assert.Throws<ArgumentException>(() => Norm.LayerNorm(rec, x, g2, g, x, false));
        Assert.Throws<ArgumentException>(() => Norm.LayerNorm(rec, x, g, g, x.Channels(0, 47), false));
        // gamma/beta must stay fp32 when x and y are fp16.
        using var x16 = Dev.CreateTensor(64, 1, 3, 3, Precision.Fp16);
        using var g64 = Norm.UploadVector(Dev, new float[64]);
        using var g16 = Dev.Upload(new float[64], 64, 1, 1, 1, Precision.Fp16);
        Assert.Contains("fp32", Assert.Throws<ArgumentException>(() => Norm.LayerNorm(rec, x16, g16, g64, x16, false)).Message);
        Assert.Contains("fp32", Assert.Throws<ArgumentException>(() => Norm.GroupNorm(rec, x16, g64, g16, x16, false, false, arena)).Message);
    }
}

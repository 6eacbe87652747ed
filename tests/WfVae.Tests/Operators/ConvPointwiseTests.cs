using WfVae.Operators;
using WfVae.Runtime;
using WfVae.Tests.Reference;
using Xunit;

namespace WfVae.Tests.Operators;

/// <summary>
/// The pointwise texel kernel (conv_texel_pointwise, 1x1x1 convs at stride 1 on inputs that allow vec4 reads): which
/// calls take it, and that it gives the bits of conv_texel and conv.spv (its accuracy against the CPU reference is in
/// <see cref="OpTable"/>, "conv texel-pointwise ...").
/// </summary>
[Collection(Gpu.Ops)]
public sealed class ConvPointwiseTests(GpuFixture gpu)
{
    private static float[] Weights(int cout, int cin, int seed) =>
        CpuTensor.Random(1, 1, 1, cout * cin, seed, (float)(1.0 / Math.Sqrt(cin))).Data;

    /// <summary>
    /// Runs one 1x1x1 conv on <paramref name="d"/>: x as channels [1, 1 + cin) of a larger tensor (a strided view whose
    /// base is one frame plane in), y as channels [2, 2 + cout) of another, a dense residual. Returns y and the variant
    /// the call ran.
    /// </summary>
    private static (float[] Y, KernelVariant Variant) Run(VulkanDevice d, Precision p, int cin, int cout, int t, int h, int w,
        bool bias, bool residual)
    {
        var x = CpuTensor.Random(cin + 3, t, h, w, seed: 31);
        var r = CpuTensor.Random(cout, t, h, w, seed: 32);
        using var cw = ConvWeights.Upload(d, Weights(cout, cin, 33), bias ? CpuTensor.Random(1, 1, 1, cout, 34, 0.5f).Data : [], cout, cin, 1, 1, 1, p);
        using var gx = d.Upload(x.ToFrameMajor(), cin + 3, t, h, w, p);
        using var gr = d.Upload(r.ToFrameMajor(), cout, t, h, w, p);
        using var gy = d.CreateTensor(cout + 3, t, h, w, p);
        var xv = gx.Channels(1, cin);
        var yv = gy.Channels(2, cout);
        var variant = Conv.VariantFor(d, p, cw, null, xv, 1, 1, ConvPadding.Same, w);
        using (var rec = d.BeginCommands())
        {
            Conv.Forward(rec, null, xv, cw, yv, residual: residual ? gr : null);
            rec.Submit();
        }
        return (d.Download(yv), variant);
    }

    [Theory]
    //          cin cout T  H   W  bias   residual
    [InlineData(19, 37, 3, 4, 13, true, true)]    // 52 positions per frame: runs of 8 cross frames; Cin off the K step
    [InlineData(64, 21, 2, 12, 6, false, true)]   // Cout off the vec4s and the tile
    [InlineData(8, 70, 2, 10, 10, true, false)]   // 200 positions: the full-width tile (16 per invocation), a partial block
    [InlineData(8, 5, 1, 3, 4, true, false)]      // 12 positions: one partial block
    [InlineData(19, 37, 3, 4, 13, true, true, Precision.Fp16)]
    [InlineData(64, 21, 2, 12, 6, false, true, Precision.Fp16)]
    public void GivesTheBitsOfTheTexelAndSsboKernels(int cin, int cout, int t, int h, int w, bool bias, bool residual,
        Precision p = Precision.Fp32)
    {
        var (pointwise, v) = Run(gpu.With(KernelVariant.TexelPointwise), p, cin, cout, t, h, w, bias, residual);
        Assert.Equal(KernelVariant.TexelPointwise, v);
        var (texel, vt) = Run(gpu.With(KernelVariant.Texel), p, cin, cout, t, h, w, bias, residual);
        Assert.Equal(KernelVariant.Texel, vt);
        var (ssbo, _) = Run(gpu.With(KernelVariant.Ssbo), p, cin, cout, t, h, w, bias, residual);
        ReferenceAssert.Bits(texel, pointwise, "pointwise vs texel");
        ReferenceAssert.Bits(ssbo, pointwise, "pointwise vs ssbo");
        gpu.AssertClean();
    }

    [Fact]
    public void TakenOnlyWhereTheLayoutAllowsVec4ReadsAndTheLayerIsPointwise()
    {
        var d = gpu.Device;
        using var w1 = ConvWeights.Upload(d, new float[8 * 8], [], 8, 8, 1, 1, 1);
        using var w3 = ConvWeights.Upload(d, new float[8 * 8 * 27], [], 8, 8, 3, 3, 3);
        using var even = d.CreateTensor(10, 3, 4, 13);   // 52 positions per frame
        using var odd = d.CreateTensor(10, 3, 7, 13);    // 91
        var x = even.Channels(1, 8);
        Assert.True(Conv.PointwiseApplies(w1, null, x, 1, 1, ConvPadding.Same));
        Assert.True(Conv.PointwiseApplies(w1, null, even.Channels(2, 8).Frames(1, 2), 1, 1, ConvPadding.Same));
        Assert.False(Conv.PointwiseApplies(w1, null, odd.Channels(1, 8), 1, 1, ConvPadding.Same));  // 91-element planes
        Assert.False(Conv.PointwiseApplies(w3, null, x, 1, 1, ConvPadding.Same));                   // not 1x1x1
        Assert.False(Conv.PointwiseApplies(w1, x.Frames(0, 1), x.Frames(1, 2), 1, 1, ConvPadding.Same)); // past frames
        Assert.False(Conv.PointwiseApplies(w1, null, x, 2, 1, ConvPadding.Same));
        Assert.False(Conv.PointwiseApplies(w1, null, x, 1, 2, ConvPadding.Same));
        Assert.False(Conv.PointwiseApplies(w1, null, x, 1, 1, ConvPadding.RightBottom));

        // The device's own choice: pointwise where it applies on texel devices; forced variants as forced.
        var device = Conv.VariantFor(d);
        Assert.Equal(device == KernelVariant.Texel ? KernelVariant.TexelPointwise : device,
            Conv.VariantFor(d, Precision.Fp32, w1, null, x, 1, 1, ConvPadding.Same, 13));
        Assert.Equal(device, Conv.VariantFor(d, Precision.Fp32, w1, null, odd.Channels(1, 8), 1, 1, ConvPadding.Same, 13));
        Assert.Equal(KernelVariant.Texel, Conv.VariantFor(gpu.With(KernelVariant.Texel), Precision.Fp32, w1, null, x, 1, 1, ConvPadding.Same, 13));
        Assert.Equal(KernelVariant.Ssbo, Conv.VariantFor(gpu.With(KernelVariant.Ssbo), Precision.Fp32, w1, null, x, 1, 1, ConvPadding.Same, 13));
        var forced = gpu.With(KernelVariant.TexelPointwise);
        Assert.Equal(KernelVariant.TexelPointwise, Conv.VariantFor(forced, Precision.Fp32, w1, null, x, 1, 1, ConvPadding.Same, 13));
        Assert.Equal(KernelVariant.Texel, Conv.VariantFor(forced, Precision.Fp32, w1, null, odd.Channels(1, 8), 1, 1, ConvPadding.Same, 13));
        Assert.Equal(KernelVariant.Texel, Conv.VariantFor(forced, Precision.Fp32, w3, null, x, 1, 1, ConvPadding.Same, 13));
        Assert.Equal(KernelVariant.Texel, Conv.VariantFor(forced, Precision.Fp32, w3, 1, 64)); // the shape-only overload cannot see the layout
    }

    [Fact]
    public void PositionsPerInvocationHalveWhereTheLastBlockWouldBeMostlyEmpty()
    {
        var d = gpu.Device;
        var t = ConvTiles.CpuTexelPointwise;
        Assert.Equal(t, t.ForPositions(KernelVariant.TexelPointwise, 1280));
        Assert.Equal(t, t.ForPositions(KernelVariant.TexelPointwise, 200));
        Assert.Equal(t, t.ForPositions(KernelVariant.TexelPointwise, 0));
        Assert.Equal(t with { TN = t.TN / 2 }, t.ForPositions(KernelVariant.TexelPointwise, 192));
        Assert.Equal(t with { TN = t.TN / 2 }, t.ForPositions(KernelVariant.TexelPointwise, 12));
        Assert.Equal(ConvTiles.CpuTexel, ConvTiles.CpuTexel.ForPositions(KernelVariant.Texel, 192));
        (t with { TN = t.TN / 2 }).Validate(d, KernelVariant.TexelPointwise);
        Assert.Throws<ArgumentException>(() => (t with { TN = 6 }).Validate(d, KernelVariant.TexelPointwise));
    }

    [Fact]
    public void TileShapesDoNotChangeTheBits()
    {
        const int cin = 23, cout = 19, t = 2, h = 6, w = 10;
        var x = CpuTensor.Random(cin, t, h, w, seed: 51);
        var wt = Weights(cout, cin, 52);
        var b = CpuTensor.Random(1, 1, 1, cout, 53, 0.5f).Data;
        float[] Run(TileShape? tiles)
        {
            // Tiles are a device option: a device of their own, closed again.
            using var d = VulkanDevice.Create(new DeviceOptions { PipelineCachePath = "", Kernels = new KernelOptions { Variant = KernelVariant.TexelPointwise, Tiles = tiles } });
            using var cw = ConvWeights.Upload(d, wt, b, cout, cin, 1, 1, 1);
            using var gx = d.Upload(x.ToFrameMajor(), cin, t, h, w);
            using var gy = d.CreateTensor(cout, t, h, w);
            using (var rec = d.BeginCommands())
            {
                Conv.Forward(rec, null, gx, cw, gy);
                rec.Submit();
            }
            Assert.Empty(d.ValidationErrors);
            return d.Download(gy);
        }
        var reference = Run(null);
        // K steps of 1 and 3 (remainder loop), 4 to 32 positions per invocation, 4 to 32 channels.
        foreach (var tiles in new TileShape[] { new(32, 8, 16, 8, 4), new(16, 8, 4, 4, 1), new(64, 16, 8, 32, 3), new(8, 8, 32, 12, 5) })
            Assert.Equal(reference, Run(tiles));
    }

    [Fact]
    public void StreamedFrameByFrameIsBitIdenticalToWholeClip()
    {
        const int cin = 21, cout = 13, t = 5, h = 4, w = 9;
        var d = gpu.With(KernelVariant.TexelPointwise);
        using var cw = ConvWeights.Upload(d, Weights(cout, cin, 41), CpuTensor.Random(1, 1, 1, cout, 42, 0.5f).Data, cout, cin, 1, 1, 1);
        using var gx = d.Upload(CpuTensor.Random(cin, t, h, w, seed: 43).ToFrameMajor(), cin, t, h, w);
        using var whole = d.CreateTensor(cout, t, h, w);
        using var streamed = d.CreateTensor(cout, t, h, w);
        Assert.Equal(KernelVariant.TexelPointwise, Conv.VariantFor(d, Precision.Fp32, cw, null, gx.Frames(3, 1), 1, 1, ConvPadding.Same, w));
        using (var rec = d.BeginCommands())
        {
            Conv.Forward(rec, null, gx, cw, whole);
            for (int f = 0; f < t; f++) Conv.Forward(rec, null, gx.Frames(f, 1), cw, streamed.Frames(f, 1));
            rec.Submit();
        }
        Assert.Equal(d.Download(whole), d.Download(streamed));
        gpu.AssertClean();
    }

    [Fact]
    public void TheLogNamesThePointwiseKernel()
    {
        if (Conv.VariantFor(gpu.Device) != KernelVariant.Texel) return; // a texel-device default only
        var lines = new List<string>();
        using var d = VulkanDevice.Create(new DeviceOptions { PipelineCachePath = "", Verbose = true, Log = lines.Add });
        {
            using var w = ConvWeights.Upload(d, new float[4 * 5], new float[4], 4, 5, 1, 1, 1);
            using var x = d.CreateTensor(5, 1, 4, 4);
            using var y = d.CreateTensor(4, 1, 4, 4);
            using var rec = d.BeginCommands();
            Conv.Forward(rec, null, x, w, y, label: "test.pointwise_log");
            rec.Submit();
        }
        Assert.Contains("texel-pointwise", Assert.Single(lines, l => l.Contains("test.pointwise_log")));
        Assert.Empty(d.ValidationErrors);
    }
}

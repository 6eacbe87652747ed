using WfVae.Operators;
using WfVae.Runtime;
using WfVae.Tests.Reference;
using Xunit;
using Xunit.Abstractions;

namespace WfVae.Tests.Operators;

/// <summary>
/// shaders/conv.comp against CpuOps (double accumulation). Tolerance: the shader accumulates K = Cin·kt·kh·kw
/// products in one float32 fma chain; rounding error grows like sqrt(K)·6e-8 relative to rms(y) (K ≤ 33·27 = 891
/// here: ~2e-6), so rel_err = max|a − e| / rms(e) ≤ 1e-5 leaves a margin of ~5 for the maximum over all elements,
/// while a wrong tap, channel, frame or padding moves single elements by O(1/sqrt(K)) ≥ 3e-2 of rms.
/// fp16 (see <see cref="Fp16"/>): x, past, residual, weights and bias are rounded to halves on the host and the reference
/// runs on the rounded values; the shader's fma chain is the fp32 one above (products of halves are exact in fp32)
/// and y is rounded once to a half: Tol + 2⁻¹¹·max|e|/rms(e) (≈ 2e-3 for these outputs, max/rms ≈ 3.5–4.5).
/// </summary>
/// <summary>
/// Every case runs for each compiled variant of conv.comp (see <see cref="KernelVariant"/>); forced TexelRows runs the row
/// kernel on every layer it can run (kw = 3, spatial stride 1, any width: partial segments included) and plain texel on
/// the others.
/// </summary>
[Collection(Gpu.Ops)]
public sealed class ConvTexelTests(GpuFixture gpu, ITestOutputHelper output) : ConvTests(gpu, output, KernelVariant.Texel);

[Collection(Gpu.Ops)]
public sealed class ConvTexelRowsTests(GpuFixture gpu, ITestOutputHelper output) : ConvTests(gpu, output, KernelVariant.TexelRows);

[Collection(Gpu.Ops)]
public sealed class ConvSsboTests(GpuFixture gpu, ITestOutputHelper output) : ConvTests(gpu, output, KernelVariant.Ssbo);

public abstract class ConvTests
{
    private const double Tol = 1e-5;
    private readonly GpuFixture gpu;
    private readonly ITestOutputHelper output;
    private readonly KernelVariant _variant;

    protected ConvTests(GpuFixture gpu, ITestOutputHelper output, KernelVariant variant)
    {
        this.gpu = gpu;
        this.output = output;
        _variant = variant;
    }

    /// <summary>The device whose convolutions run this class's variant (kernel options are per device).</summary>
    private VulkanDevice Dev => gpu.With(_variant);

    /// <summary>Random weights and bias, as <paramref name="p"/> stores them (fp16: rounded to halves).</summary>
    private static (float[] W, float[] B) RandomWeights(int cout, int cin, int kt, int kh, int kw, int seed, bool bias = true,
        Precision p = Precision.Fp32)
    {
        int k = cin * kt * kh * kw;
        var w = CpuTensor.Random(1, 1, 1, cout * k, seed, (float)(1.0 / Math.Sqrt(k))).Data.In(p);
        var b = bias ? CpuTensor.Random(1, 1, 1, cout, seed + 1, 0.5f).Data.In(p) : Array.Empty<float>();
        return (w, b);
    }

    private void Close(string what, CpuTensor got, CpuTensor expected, Precision p) =>
        ReferenceAssert.Close(output, $"{_variant} {p} {what}", got, expected, Fp16.Tolerance(p, expected, Tol));

    private static CpuTensor RepeatFirst(CpuTensor x, int count) =>
        count == 0 ? new CpuTensor(x.C, 0, x.H, x.W) : CpuTensor.ConcatFrames(Enumerable.Repeat(x.SliceFrames(0, 1), count).ToArray());

    /// <summary>Runs the conv with every operand stored in <paramref name="p"/> (fp16: rounded on upload).</summary>
    private CpuTensor Gpu(CpuTensor? past, CpuTensor x, float[] w, float[] b, int cout, int kt, int kh, int st, int sh,
        ConvPadding padding, CpuTensor? residual = null, Precision p = Precision.Fp32, VulkanDevice? device = null)
    {
        var d = device ?? Dev;
        using var cw = ConvWeights.Upload(d, w, b, cout, x.C, kt, kh, kh, p);
        using var gp = past == null ? null : d.Upload(past.ToFrameMajor(), past.C, past.T, past.H, past.W, p);
        using var gx = d.Upload(x.ToFrameMajor(), x.C, x.T, x.H, x.W, p);
        int to = Conv.OutputFrames((past?.T ?? 0) + x.T, kt, st);
        int ho = Conv.OutputSize(x.H, kh, sh, padding), wo = Conv.OutputSize(x.W, kh, sh, padding);
        using var gy = d.CreateTensor(cout, to, ho, wo, p);
        using var gr = residual == null ? null : d.Upload(residual.ToFrameMajor(), residual.C, residual.T, residual.H, residual.W, p);
        using (var rec = d.BeginCommands())
        {
            Conv.Forward(rec, gp, gx, cw, gy, st, sh, padding, gr);
            rec.Submit();
        }
        return CpuTensor.FromFrameMajor(d.Download(gy), cout, to, ho, wo);
    }

    /// <summary>
    /// Plain (unpadded in time) conv over the virtual sequence v via the reference: CpuOps pads with kt−1 copies of
    /// frame 0; prepend r more so that (kt−1+r) is a multiple of st and drop the (kt−1+r)/st outputs that read them.
    /// </summary>
    private static CpuTensor PlainReference(CpuTensor v, float[] w, float[] b, int cout, int kt, int kh, int st, int sh, ConvPadding padding)
    {
        int r = (st - (kt - 1) % st) % st;
        var vp = r == 0 ? v : CpuTensor.ConcatFrames(RepeatFirst(v, r), v);
        CpuTensor full;
        float[]? bias = b.Length == 0 ? null : b;
        if (padding == ConvPadding.Same)
            full = CpuOps.CausalConv3d(vp, w, bias, cout, (kt, kh, kh), (st, sh, sh), (kh - 1) / 2);
        else if (kt == 1 && st == 1 && kh == 3 && sh == 2)
            full = CpuOps.Downsample2d(vp, w, bias, cout);
        else if (kt == 3 && st == 2 && kh == 3 && sh == 2)
            full = CpuOps.S2T2Downsample3d(vp, w, bias, cout);
        else throw new NotSupportedException("RightBottom reference exists for Downsample2d and S2T2 only");
        int drop = (kt - 1 + r) / st;
        return full.SliceFrames(drop, full.T - drop);
    }

    /// <summary>
    /// The CausalConv stream object (docs/model.md#what-each-layer-keeps, #exactness) driven by the caller (cache of ≤ kt−1 frames kept in a separate
    /// tensor, chunks of 1 or more frames) must give the whole-clip result bit for bit.
    /// </summary>
    [Theory]
    [InlineData(3, 1, 1, 3, 1, ConvPadding.Same, new[] { 1 })]
    [InlineData(3, 1, 1, 3, 1, ConvPadding.Same, new[] { 1, 3, 2 })]
    [InlineData(3, 2, 2, 3, 2, ConvPadding.RightBottom, new[] { 1 })]
    [InlineData(3, 2, 2, 3, 2, ConvPadding.RightBottom, new[] { 2, 1, 3 })]
    [InlineData(2, 2, 1, 3, 1, ConvPadding.Same, new[] { 1 })]
    [InlineData(1, 1, 0, 1, 1, ConvPadding.Same, new[] { 1, 2 })]
    [InlineData(3, 1, 1, 3, 1, ConvPadding.Same, new[] { 1, 3, 2 }, Precision.Fp16)]
    [InlineData(3, 2, 2, 3, 2, ConvPadding.RightBottom, new[] { 2, 1, 3 }, Precision.Fp16)]
    // Wide rows (the row kernel's default territory): 33 and 17 columns.
    [InlineData(3, 1, 1, 3, 1, ConvPadding.Same, new[] { 1 }, Precision.Fp32, 33)]
    [InlineData(3, 1, 1, 3, 1, ConvPadding.Same, new[] { 1, 3, 2 }, Precision.Fp16, 17)]
    public void StreamedFrameByFrameIsBitIdenticalToWholeClip(int kt, int st, int unusedPast, int kh, int sh, ConvPadding padding, int[] chunks,
        Precision p = Precision.Fp32, int w = 10)
    {
        _ = unusedPast;
        const int cin = 19, cout = 37, t = 9, h = 11;
        var d = Dev;
        var x = CpuTensor.Random(cin, t, h, w, seed: 71).In(p);
        var (wt, b) = RandomWeights(cout, cin, kt, kh, kh, seed: 72, p: p);
        using var cw = ConvWeights.Upload(d, wt, b, cout, cin, kt, kh, kh, p);
        using var gx = d.Upload(x.ToFrameMajor(), cin, t, h, w, p);
        int ho = Conv.OutputSize(h, kh, sh, padding), wo = Conv.OutputSize(w, kh, sh, padding);
        int tout = Conv.OutputFrames(t + kt - 1, kt, st);

        // Whole clip: one dispatch over past (kt−1 copies of frame 0) ++ x.
        using var replicated = d.CreateTensor(cin, Math.Max(1, kt - 1), h, w, p);
        using var whole = d.CreateTensor(cout, tout, ho, wo, p);
        using (var rec = d.BeginCommands())
        {
            for (int i = 0; i < kt - 1; i++) rec.Copy(gx.Frames(0, 1), replicated.Frames(i, 1));
            Conv.Forward(rec, kt > 1 ? replicated.WithFrames(kt - 1) : null, gx, cw, whole, st, sh, padding);
            rec.Submit();
        }

        // Streamed: chunks cycle through `chunks`; the cache holds the not yet consumed virtual frames.
        using var streamed = d.CreateTensor(cout, tout, ho, wo, p);
        using var cacheA = d.CreateTensor(cin, Math.Max(1, kt), h, w, p);
        using var cacheB = d.CreateTensor(cin, Math.Max(1, kt), h, w, p);
        var cache = cacheA;
        var spare = cacheB;
        int cached = -1; // -1: not started
        int produced = 0, f = 0, ci = 0;
        using (var rec = d.BeginCommands())
        {
            while (f < t)
            {
                int n = Math.Min(chunks[ci++ % chunks.Length], t - f);
                var chunk = gx.Frames(f, n);
                if (cached < 0)
                {
                    for (int i = 0; i < kt - 1; i++) rec.Copy(chunk.Frames(0, 1), cache.Frames(i, 1));
                    cached = kt - 1;
                }
                int v = cached + n;
                int outs = Conv.OutputFrames(v, kt, st);
                if (outs > 0)
                {
                    Conv.Forward(rec, cached > 0 ? cache.WithFrames(cached) : null, chunk, cw, streamed.Frames(produced, outs), st, sh, padding);
                    produced += outs;
                }
                // Keep virtual frames from outs*st on (docs/model.md#exactness: drop st frames per output).
                int keepFrom = outs * st, keep = v - keepFrom;
                for (int i = 0; i < keep; i++)
                {
                    int src = keepFrom + i;
                    rec.Copy(src < cached ? cache.Frames(src, 1) : chunk.Frames(src - cached, 1), spare.Frames(i, 1));
                }
                (cache, spare) = (spare, cache);
                cached = keep;
                f += n;
            }
            rec.Submit();
        }
        Assert.Equal(tout, produced);
        var a = d.Download(whole);
        var s = d.Download(streamed);
        ReferenceAssert.Bits(a, s, "whole vs streamed");
        // And the whole clip is right.
        var expected = padding == ConvPadding.Same
            ? CpuOps.CausalConv3d(x, wt, b, cout, (kt, kh, kh), (st, sh, sh), (kh - 1) / 2)
            : CpuOps.S2T2Downsample3d(x, wt, b, cout);
        Close("whole clip", CpuTensor.FromFrameMajor(a, cout, tout, ho, wo), expected, p);
        gpu.AssertClean();
    }

    [Fact]
    public void TileShapesDoNotChangeTheBits()
    {
        // Different tilings (and tile positions) compute each element with the same fma chain.
        var d = Dev;
        var x = CpuTensor.Random(21, 2, 9, 7, seed: 81);
        var (wt, b) = RandomWeights(19, 21, 3, 3, 3, seed: 82);
        float[] Run(ConvTiles? tiles)
        {
            if (tiles is not { } t) return Gpu(RepeatFirst(x, 2), x, wt, b, 19, 3, 3, 1, 1, ConvPadding.Same).Data;
            // Tiles are a device option: a device of their own, closed again (each holds a memory block).
            var shape = new TileShape(t.WG, t.WGN, t.TM, t.TN, t.BK, t.Subgroup8);
            using var dt = VulkanDevice.Create(new DeviceOptions { PipelineCachePath = "", Kernels = new KernelOptions { Variant = _variant, Tiles = shape } });
            var y = Gpu(RepeatFirst(x, 2), x, wt, b, 19, 3, 3, 1, 1, ConvPadding.Same, device: dt).Data;
            Assert.Empty(dt.ValidationErrors);
            return y;
        }
        var reference = Run(null);
        var all = _variant != KernelVariant.Ssbo
            ? new List<ConvTiles> { ConvTiles.CpuTexel, ConvTiles.CpuTexelRows, new(16, 16, 4, 8, 8), new(32, 8, 4, 3, 1), new(64, 8, 12, 1, 1) }
            : new List<ConvTiles> { ConvTiles.Cpu, ConvTiles.Gpu, new(32, 4, 8, 4, 5), new(16, 16, 4, 8, 8) };
        if (d.Info.SubgroupSize == 8) all.Add(new ConvTiles(64, 8, 8, 4, 16, Subgroup8: true));
        foreach (var tiles in all)
            Assert.Equal(reference, Run(tiles));
        gpu.AssertClean();
    }

    [Fact]
    public void RejectsMismatchedShapesWithClearMessages()
    {
        var d = Dev;
        var (wt, b) = RandomWeights(5, 3, 3, 3, 3, seed: 91);
        using var cw = ConvWeights.Upload(d, wt, b, 5, 3, 3, 3, 3);
        using var x = d.CreateTensor(3, 2, 7, 9);
        using var x4 = d.CreateTensor(4, 2, 7, 9);
        using var past = d.CreateTensor(3, 2, 7, 9);
        using var pastBad = d.CreateTensor(3, 2, 7, 8);
        using var y = d.CreateTensor(5, 2, 7, 9);
        using var y6 = d.CreateTensor(6, 2, 7, 9);
        using var y3f = d.CreateTensor(5, 3, 7, 9);
        using var ySmall = d.CreateTensor(5, 2, 4, 5);
        using var rec = d.BeginCommands();
        Assert.Contains("channels", Assert.Throws<ArgumentException>(() => Conv.Forward(rec, past, x4, cw, y)).Message);
        Assert.Contains("channels", Assert.Throws<ArgumentException>(() => Conv.Forward(rec, past, x, cw, y6)).Message);
        Assert.Contains("output frames", Assert.Throws<ArgumentException>(() => Conv.Forward(rec, past, x, cw, y3f)).Message);
        Assert.Contains("output frames", Assert.Throws<ArgumentException>(() => Conv.Forward(rec, null, x, cw, y)).Message);
        Assert.Contains("gives 7x9", Assert.Throws<ArgumentException>(() => Conv.Forward(rec, past, x, cw, ySmall)).Message);
        Assert.Contains("gives 3x4", Assert.Throws<ArgumentException>(() => Conv.Forward(rec, past, x, cw, y, strideHW: 2, padding: ConvPadding.RightBottom)).Message);
        Assert.Contains("past", Assert.Throws<ArgumentException>(() => Conv.Forward(rec, pastBad, x, cw, y)).Message);
        Assert.Contains("residual", Assert.Throws<ArgumentException>(() => Conv.Forward(rec, past, x, cw, y, residual: ySmall)).Message);
        Assert.Contains("needs", Assert.Throws<ArgumentException>(() => ConvWeights.Upload(d, wt.AsSpan(1), b, 5, 3, 3, 3, 3)).Message);
        Assert.Contains("bias", Assert.Throws<ArgumentException>(() => ConvWeights.Upload(d, wt, b.AsSpan(1), 5, 3, 3, 3, 3)).Message);
        rec.Submit();
        gpu.AssertClean();
    }

    [Fact]
    public void OutputFramesAndFlops()
    {
        Assert.Equal(0, Conv.OutputFrames(2, 3, 1));
        Assert.Equal(1, Conv.OutputFrames(3, 3, 1));
        Assert.Equal(17, Conv.OutputFrames(19, 3, 1));
        Assert.Equal(9, Conv.OutputFrames(19, 3, 2));  // S2T2: 17 frames + 2 replicated -> 9
        Assert.Equal(17, Conv.OutputFrames(34, 2, 2)); // Haar3D: 33 + 1 -> 17
        Assert.Equal(64, Conv.OutputSize(128, 3, 2, ConvPadding.RightBottom));
        Assert.Equal(3, Conv.OutputSize(7, 3, 2, ConvPadding.RightBottom));
        Assert.Equal(4, Conv.OutputSize(7, 3, 2, ConvPadding.Same));
        var d = Dev;
        using var cw = ConvWeights.Upload(d, new float[384 * 384 * 27], Array.Empty<float>(), 384, 384, 3, 3, 3);
        using var y = d.CreateTensor(384, 17, 8, 8);
        // docs/model.md#flops: encoder.down2.1.conv1 = 554.45 GFLOP at 17x64x64; here 8x8 frames = 1/64 of it.
        Assert.Equal(2L * 384 * 384 * 27 * 17 * 64, Conv.Flops(cw, y));
        Assert.Equal(554.45, Conv.Flops(cw, y) * 64 / 1e9, 2);
    }
}

/// <summary>
/// conv.spv and conv_texel.spv compute every element with the same fma chain: identical bits, not just close. (The row
/// kernel, conv_texel_rows.spv, sums in another order and is checked against the reference instead; forcing
/// <see cref="KernelVariant.Texel"/> below keeps it out even on the wide rows where it would be the default.)
/// </summary>
[Collection(Gpu.Ops)]
public sealed class KernelVariantTests(GpuFixture gpu)
{
    [Theory]
    //          cin cout kt st kh sh pastT T  H   W  pad
    [InlineData(19, 37, 3, 1, 3, 1, 2, 3, 7, 13, ConvPadding.Same)]
    [InlineData(33, 10, 3, 2, 3, 2, 2, 5, 9, 8, ConvPadding.RightBottom)]
    [InlineData(16, 8, 1, 1, 1, 1, 0, 2, 5, 11, ConvPadding.Same)]
    [InlineData(8, 20, 2, 2, 3, 1, 1, 4, 6, 6, ConvPadding.Same)]
    [InlineData(5, 17, 3, 1, 3, 1, 2, 2, 5, 33, ConvPadding.Same)]
    // fp16: both variants run the same fp32 chain on the same halves and round once: still identical bits.
    [InlineData(19, 37, 3, 1, 3, 1, 2, 3, 7, 13, ConvPadding.Same, Precision.Fp16)]
    [InlineData(33, 10, 3, 2, 3, 2, 2, 5, 9, 8, ConvPadding.RightBottom, Precision.Fp16)]
    public void TexelAndSsboVariantsGiveIdenticalBits(int cin, int cout, int kt, int st, int kh, int sh, int pastT, int t, int h, int w, ConvPadding padding,
        Precision p = Precision.Fp32)
    {
        var x = CpuTensor.Random(cin, t, h, w, seed: 5);
        var past = CpuTensor.Random(cin, Math.Max(pastT, 1), h, w, seed: 6);
        int k = cin * kt * kh * kh;
        var wt = CpuTensor.Random(1, 1, 1, cout * k, 8, (float)(1.0 / Math.Sqrt(k))).Data;
        var b = CpuTensor.Random(1, 1, 1, cout, 9, 0.5f).Data;
        int to = Conv.OutputFrames(pastT + t, kt, st), ho = Conv.OutputSize(h, kh, sh, padding), wo = Conv.OutputSize(w, kh, sh, padding);
        var resData = CpuTensor.Random(cout, to, ho, wo, seed: 10);
        float[] Run(KernelVariant v)
        {
            // Kernel options are per device: each variant runs on the device that forces it.
            var dv = gpu.With(v);
            using var cwv = ConvWeights.Upload(dv, wt, b, cout, cin, kt, kh, kh, p);
            using var gxv = dv.Upload(x.ToFrameMajor(), cin, t, h, w, p);
            using var gpv = dv.Upload(past.ToFrameMajor(), past.C, past.T, h, w, p);
            using var grv = dv.Upload(resData.ToFrameMajor(), cout, to, ho, wo, p);
            using var gy = dv.CreateTensor(cout, to, ho, wo, p);
            using (var rec = dv.BeginCommands())
            {
                Conv.Forward(rec, pastT > 0 ? gpv.WithFrames(pastT) : null, gxv, cwv, gy, st, sh, padding, grv);
                rec.Submit();
            }
            return dv.Download(gy);
        }
        var a = Run(KernelVariant.Ssbo);
        var e = Run(KernelVariant.Texel);
        ReferenceAssert.Bits(a, e, "ssbo vs texel");
        gpu.AssertClean();
    }

    [Fact]
    public void AForcedVariantAppliesToEveryLayerItCanRun()
    {
        var ssbo = gpu.With(KernelVariant.Ssbo);
        var texel = gpu.With(KernelVariant.Texel);
        var rows = gpu.With(KernelVariant.TexelRows);
        Assert.Equal(KernelVariant.Ssbo, Conv.VariantFor(ssbo));
        Assert.Equal(KernelVariant.Texel, Conv.VariantFor(texel));
        using var w3 = ConvWeights.Upload(texel, new float[4 * 4 * 9], Array.Empty<float>(), 4, 4, 1, 3, 3);
        // Forced texel: the plain kernel on wide rows too; forced texel-rows: the row kernel wherever it can run.
        Assert.Equal(KernelVariant.Texel, Conv.VariantFor(texel, Precision.Fp32, w3, 1, 64));
        Assert.Equal(KernelVariant.TexelRows, Conv.VariantFor(rows));
        Assert.Equal(KernelVariant.TexelRows, Conv.VariantFor(rows, Precision.Fp32, w3, 1, 5));
        Assert.Equal(KernelVariant.Texel, Conv.VariantFor(rows, Precision.Fp32, w3, 2, 64));
    }
}

/// <summary>The per-layer choice of the row kernel: from the layer's shape only, and only where the texel kernel is the device's.</summary>
[Collection(Gpu.Ops)]
public sealed class ConvRowKernelChoiceTests(GpuFixture gpu)
{
    [Fact]
    public void RowKernelIsPickedForWideThreeTapStrideOneLayersOnTexelDevices()
    {
        var d = gpu.Device;
        {
            using var w3 = ConvWeights.Upload(d, new float[4 * 4 * 27], Array.Empty<float>(), 4, 4, 3, 3, 3);
            using var w1 = ConvWeights.Upload(d, new float[4 * 4], Array.Empty<float>(), 4, 4, 1, 1, 1);
            Assert.True(Conv.RowsWin(w3, 1, 16) && Conv.RowsWin(w3, 1, 64) && Conv.RowsWin(w3, 1, 53));
            Assert.False(Conv.RowsWin(w3, 1, 8) || Conv.RowsWin(w3, 1, 17) || Conv.RowsWin(w3, 2, 64) || Conv.RowsWin(w1, 1, 64));
            var device = Conv.VariantFor(d);
            var wide = Conv.VariantFor(d, Precision.Fp32, w3, 1, 32);
            Assert.Equal(device == KernelVariant.Texel ? KernelVariant.TexelRows : device, wide);
            Assert.Equal(device, Conv.VariantFor(d, Precision.Fp32, w3, 1, 8));
            Assert.Equal(device, Conv.VariantFor(d, Precision.Fp32, w1, 1, 32));
            Assert.Equal(KernelVariant.Texel, Conv.VariantFor(gpu.With(KernelVariant.Texel), Precision.Fp32, w3, 1, 32));
            var rows = gpu.With(KernelVariant.TexelRows);
            Assert.Equal(KernelVariant.TexelRows, Conv.VariantFor(rows, Precision.Fp32, w3, 1, 8));
            Assert.Equal(KernelVariant.Texel, Conv.VariantFor(rows, Precision.Fp32, w1, 1, 32));
        }
    }

    [Fact]
    public void TheLogNamesTheRowKernel()
    {
        if (Conv.VariantFor(gpu.Device) != KernelVariant.Texel) return; // the row kernel is a texel-device default only
        var lines = new List<string>();
        using var d = VulkanDevice.Create(new DeviceOptions { PipelineCachePath = "", Verbose = true, Log = lines.Add });
        {
            using var w = ConvWeights.Upload(d, new float[4 * 5 * 9], new float[4], 4, 5, 1, 3, 3);
            using var x = d.CreateTensor(5, 1, 5, 16);
            using var y = d.CreateTensor(4, 1, 5, 16);
            using var rec = d.BeginCommands();
            Conv.Forward(rec, null, x, w, y, label: "test.row_kernel_log");
            rec.Submit();
        }
        Assert.Contains("texel-rows", Assert.Single(lines, l => l.Contains("test.row_kernel_log")));
        Assert.Empty(d.ValidationErrors);
    }
}

[Collection(Gpu.Ops)]
public sealed class ConvBenchmarkTests(GpuFixture gpu)
{
    [Fact]
    public void QuickBenchmarkHasDirectAndWinogradRowsWithConsistentNumbers()
    {
        var report = WfVae.Cli.Benchmarks.OperatorBenchmark.Run(gpu.Device, TextWriter.Null, quick: true);
        Assert.Contains(gpu.Device.Info.Name, report);
        Assert.Contains("peak", report);
        var rows = report.Split('\n').Where(l => l.StartsWith("| ") && !l.StartsWith("| layer")).ToList();
        var layers = WfVae.Cli.Benchmarks.OperatorBenchmark.Layers;
        // One direct row per layer, and F4 and F2 Winograd rows for each stride-1 3x3 layer.
        Assert.Equal(layers.Count + 2 * layers.Count(l => WinogradConv.Applies(l.K, l.K, l.St, l.Shw, l.Padding)), rows.Count);
        foreach (var row in rows)
        {
            var cells = row.Split('|', StringSplitOptions.TrimEntries).Where(c => c.Length > 0).ToArray();
            Assert.Equal(8, cells.Length);
            // The kernel: direct with its workgroup tile, or Winograd with its tile; * marks the one the model runs.
            Assert.Matches(@"^((ssbo|texel|texel-rows|texel-pointwise) \d+x\d+|winograd F\([24]x[24],3x3\) (texel|texel\+address|ssbo))( \*)?$", cells[2]);
            var v = cells[3..].Select(c => double.Parse(c, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
            Assert.True(v[0] > 0 && v.All(x => x >= 0), row); // GFLOP, ms, GFLOP/s, % of peak, × direct
            // The rate is the row's own GFLOP over its ms, within the rounding of the three printed figures (F3, F2, F1):
            // a slow layer may read 0.0 GFLOP/s.
            if (v[1] > 0)
            {
                double rate = v[0] / (v[1] / 1000);
                Assert.True(Math.Abs(v[2] - rate) <= 0.05 + rate * (0.0005 / v[0] + 0.005 / v[1]) * 1.01, row);
            }
        }
        Assert.Contains(rows, r => r.Split('|', StringSplitOptions.TrimEntries)[6] is var rate && double.Parse(rate, System.Globalization.CultureInfo.InvariantCulture) > 0);
        // Each layer's first row is its direct kernel, and exactly one row per layer is the model's.
        Assert.Equal(layers.Count, rows.Count(r => r.Contains(" *")));
        gpu.AssertClean();
    }
}

public sealed class KernelOptionsParsingTests
{
    [Fact]
    public void TheKernelVariablesAreReadIntoDeviceOptionsOrRefusedClearly()
    {
        var env = new Dictionary<string, string?> { ["WFVAE_CONV_TILES"] = "32, 8,16,8,8", ["WFVAE_CONV_VARIANT"] = " Texel-Rows " };
        var o = new DeviceOptions().WithEnvironment(n => env.GetValueOrDefault(n));
        Assert.Equal(new TileShape(32, 8, 16, 8, 8), o.Kernels.Tiles);
        Assert.Equal(KernelVariant.TexelRows, o.Kernels.Variant);
        // Set from code wins over the environment; blank variables mean unset.
        var code = new DeviceOptions { Kernels = new KernelOptions { Variant = KernelVariant.Ssbo } }.WithEnvironment(n => env.GetValueOrDefault(n));
        Assert.Equal(KernelVariant.Ssbo, code.Kernels.Variant);
        Assert.Null(new DeviceOptions().WithEnvironment(_ => " ").Kernels.Tiles);

        foreach (var bad in new[] { "32,8,16,8", "32,8,x,8,8", "32,8,0,8,8" })
            Assert.Contains("WFVAE_CONV_TILES", Assert.Throws<ArgumentException>(() => new DeviceOptions().WithEnvironment(n => n == "WFVAE_CONV_TILES" ? bad : null)).Message);
        Assert.Contains("WFVAE_CONV_VARIANT=bogus", Assert.Throws<ArgumentException>(() => new DeviceOptions().WithEnvironment(n => n == "WFVAE_CONV_VARIANT" ? "bogus" : null)).Message);
        Assert.Equal(KernelVariant.Ssbo, new DeviceOptions().WithEnvironment(n => n == "WFVAE_CONV_VARIANT" ? "ssbo" : null).Kernels.Variant);
        var pointwise = new DeviceOptions().WithEnvironment(n => n == "WFVAE_CONV_VARIANT" ? "texel-pointwise" : null).Kernels;
        Assert.Equal(KernelVariant.TexelPointwise, pointwise.Variant);
        Assert.Equal(WinogradMode.Off, pointwise.WinogradInForce);
        Assert.Equal("texel-pointwise", KernelOptions.Name(KernelVariant.TexelPointwise));
    }
}

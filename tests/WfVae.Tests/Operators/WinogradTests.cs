using WfVae.Operators;
using WfVae.Runtime;
using WfVae.Tests.Reference;
using Xunit;
using Xunit.Abstractions;

namespace WfVae.Tests.Operators;

/// <summary>
/// The Winograd convolution (shaders/winograd_*.comp) against two CPU references on odd, non-square shapes:
/// <list type="bullet">
/// <item>CpuWinograd, the same algorithm in float32: rel_err ≤ 1e-5 (+ the fp16 output rounding). The two differ only
/// by rounding inside the transforms (the order of a few float additions), ~1e-6 of rms(y); an indexing error (wrong
/// tile, tap, point, channel, frame, padding) moves elements by O(rms).</item>
/// <item>CpuOps, the direct conv in double: the algorithm's own error. Measured on these shapes (K ≤ 1080):
/// F(2x2,3x3) up to ~1e-5 of rms, like the direct kernels; F(4x4,3x3) up to ~5e-5 (its transforms scale values by up
/// to 8 before the products are summed). Bounds 3e-5 and 2e-4 keep a margin of 3-4 while a wrong tap moves elements
/// by ≥ 3e-2.</item>
/// </list>
/// fp16 runs F(2x2,3x3) only: F(4x4,3x3)'s transformed weights rounded to halves cost 4-7e-3 of rms (F2: none beyond
/// the output rounding), so UploadWinograd refuses that pair.
/// Every case runs with the texel kernels (CPU drivers) and the storage-buffer kernels (GPUs); both run on lavapipe.
/// </summary>
[Collection("gpu")]
public sealed class WinogradTexelTests(GpuFixture gpu, ITestOutputHelper output) : WinogradTests(gpu, output, texel: true);

[Collection("gpu")]
public sealed class WinogradSsboTests(GpuFixture gpu, ITestOutputHelper output) : WinogradTests(gpu, output, texel: false);

public abstract class WinogradTests : IDisposable
{
    private const double EmulationTol = 1e-5;
    private readonly GpuFixture gpu;
    private readonly ITestOutputHelper output;
    private readonly bool _texel;

    // Tests of the "gpu" collection run one at a time, so the static override is safe.
    protected WinogradTests(GpuFixture gpu, ITestOutputHelper output, bool texel)
    {
        this.gpu = gpu;
        this.output = output;
        _texel = texel;
        WinogradConv.KernelOverride = texel;
    }

    public void Dispose() => WinogradConv.KernelOverride = null;

    /// <summary>rel_err bound of a tile against the direct conv in double (see the class comment).</summary>
    public static double DirectTol(WinogradTile tile) => tile == WinogradTile.F2 ? 3e-5 : 2e-4;

    private static (float[] W, float[] B) RandomWeights(int cout, int cin, int kt, int seed, bool bias = true, Precision p = Precision.Fp32)
    {
        int k = cin * kt * 9;
        var w = CpuTensor.Random(1, 1, 1, cout * k, seed, (float)(1.0 / Math.Sqrt(k))).Data.In(p);
        var b = bias ? CpuTensor.Random(1, 1, 1, cout, seed + 1, 0.5f).Data.In(p) : Array.Empty<float>();
        return (w, b);
    }

    internal static CpuTensor RepeatFirst(CpuTensor x, int count) =>
        count == 0 ? new CpuTensor(x.C, 0, x.H, x.W) : CpuTensor.ConcatFrames(Enumerable.Repeat(x.SliceFrames(0, 1), count).ToArray());

    private void Close(string what, CpuTensor got, CpuTensor expected, double tol, Precision p) =>
        ReferenceAssert.Close(output, $"{(_texel ? "texel" : "ssbo")} {p} {what}", got, expected, Fp16.Tolerance(p, expected, tol));

    /// <summary>Runs the Winograd conv of past ++ x with every operand stored in <paramref name="p"/>.</summary>
    private CpuTensor Gpu(CpuTensor? past, CpuTensor x, float[] w, float[] b, int cout, int kt, WinogradTile tile, CpuTensor? residual = null,
        Precision p = Precision.Fp32)
    {
        var d = gpu.Device;
        using var cw = ConvWeights.UploadWinograd(d, w, b, cout, x.C, kt, tile, p);
        using var gp = past == null || past.T == 0 ? null : d.Upload(past.ToFrameMajor(), past.C, past.T, past.H, past.W, p);
        using var gx = d.Upload(x.ToFrameMajor(), x.C, x.T, x.H, x.W, p);
        int to = Conv.OutputFrames((past?.T ?? 0) + x.T, kt, 1);
        using var gy = d.CreateTensor(cout, to, x.H, x.W, p);
        using var gr = residual == null ? null : d.Upload(residual.ToFrameMajor(), residual.C, residual.T, residual.H, residual.W, p);
        using (var rec = d.BeginCommands())
        {
            Conv.Forward(rec, gp, gx, cw, gy, residual: gr, label: "test.winograd");
            rec.Submit();
        }
        return CpuTensor.FromFrameMajor(d.Download(gy), cout, to, x.H, x.W);
    }

    [Theory]
    //          cin cout kt T  H   W   tile
    [InlineData(3, 5, 3, 5, 7, 13, WinogradTile.F4)]
    [InlineData(3, 5, 3, 5, 7, 13, WinogradTile.F2)]
    [InlineData(17, 33, 3, 2, 9, 6, WinogradTile.F4)]
    [InlineData(12, 8, 1, 2, 11, 5, WinogradTile.F2)]
    [InlineData(12, 8, 1, 2, 11, 5, WinogradTile.F4)]
    [InlineData(40, 70, 3, 1, 5, 7, WinogradTile.F4)]
    [InlineData(19, 17, 3, 3, 5, 33, WinogradTile.F2)]
    [InlineData(6, 7, 2, 3, 1, 1, WinogradTile.F4)]   // 1x1 frames: one tile, all but one input padding
    [InlineData(9, 6, 1, 1, 8, 4, WinogradTile.F4)]   // whole tiles only
    [InlineData(5, 3, 3, 2, 5, 17, WinogradTile.F2, Precision.Fp16)]
    [InlineData(17, 33, 3, 2, 9, 6, WinogradTile.F2, Precision.Fp16)]
    [InlineData(40, 70, 3, 1, 5, 7, WinogradTile.F2, Precision.Fp16)]
    [InlineData(12, 8, 1, 2, 11, 5, WinogradTile.F2, Precision.Fp16)]
    public void CausalConvMatchesBothReferences(int cin, int cout, int kt, int t, int h, int w, WinogradTile tile, Precision p = Precision.Fp32)
    {
        var x = CpuTensor.Random(cin, t, h, w, seed: cin * 100 + cout).In(p);
        var (wt, b) = RandomWeights(cout, cin, kt, seed: 7 + kt, p: p);
        var got = Gpu(kt > 1 ? RepeatFirst(x, kt - 1) : null, x, wt, b, cout, kt, tile, p: p);
        var direct = CpuOps.CausalConv3d(x, wt, b, cout, (kt, 3, 3), (1, 1, 1), 1);
        var emulated = CpuWinograd.Conv(CpuTensor.ConcatFrames(RepeatFirst(x, kt - 1), x), wt, b, cout, kt, (int)tile);
        Assert.Equal(direct.Shape, got.Shape);
        string what = $"{WinogradConv.Name(tile)} {cin}->{cout} k{kt} T={t} {h}x{w}";
        Close(what + " vs float32 Winograd", got, emulated, EmulationTol, p);
        Close(what + " vs direct", got, direct, DirectTol(tile), p);
        gpu.AssertClean();
    }

    [Theory]
    //          kt pastT  T
    [InlineData(3, 1, 3)]
    [InlineData(3, 2, 1)]
    [InlineData(2, 1, 4)]
    [InlineData(1, 2, 2)] // kt = 1 with a past: past frames are outputs too
    public void ArbitraryPastFramesAreReadAsTheVirtualSequence(int kt, int pastT, int t)
    {
        const int cin = 6, cout = 10, h = 5, w = 9;
        var past = CpuTensor.Random(cin, pastT, h, w, seed: 11);
        var x = CpuTensor.Random(cin, t, h, w, seed: 12);
        var (wt, b) = RandomWeights(cout, cin, kt, seed: 13);
        var v = CpuTensor.ConcatFrames(past, x);
        var got = Gpu(past, x, wt, b, cout, kt, WinogradTile.F4);
        Close($"past {pastT} T={t} k{kt}", got, CpuWinograd.Conv(v, wt, b, cout, kt, 4), EmulationTol, Precision.Fp32);
        gpu.AssertClean();
    }

    [Theory]
    [InlineData(Precision.Fp32)]
    [InlineData(Precision.Fp16)]
    public void NoBiasResidualAndChannelSliceViews(Precision p)
    {
        // Input = channels 4..21 of a 25-channel tensor; output = channels 3..35 of a 40-channel concat target;
        // residual = channels 1..33 of another tensor. The other channels of the target must stay untouched.
        const int t = 3, h = 7, w = 13, cin = 17, cout = 33;
        var d = gpu.Device;
        var big = CpuTensor.Random(25, t, h, w, seed: 61).In(p);
        var x = big.SliceChannels(4, cin);
        var resBig = CpuTensor.Random(36, t, h, w, seed: 62).In(p);
        var target = CpuTensor.Random(40, t, h, w, seed: 63).In(p);
        var (wt, _) = RandomWeights(cout, cin, 3, seed: 64, bias: false, p: p);
        var tile = p == Precision.Fp16 ? WinogradTile.F2 : WinogradTile.F4;
        var expected = CpuOps.Add(CpuWinograd.Conv(CpuTensor.ConcatFrames(RepeatFirst(x, 2), x), wt, null, cout, 3, (int)tile), resBig.SliceChannels(1, cout));

        using var cw = ConvWeights.UploadWinograd(d, wt, Array.Empty<float>(), cout, cin, 3, tile, p);
        using var gBig = d.Upload(big.ToFrameMajor(), 25, t, h, w, p);
        using var gRes = d.Upload(resBig.ToFrameMajor(), 36, t, h, w, p);
        using var gTarget = d.Upload(target.ToFrameMajor(), 40, t, h, w, p);
        using var gPast = d.CreateTensor(cin, 2, h, w, p);
        using (var rec = d.BeginCommands())
        {
            var xs = gBig.Channels(4, cin);
            rec.Copy(xs.Frames(0, 1), gPast.Frames(0, 1));
            rec.Copy(xs.Frames(0, 1), gPast.Frames(1, 1));
            Conv.Forward(rec, gPast, xs, cw, gTarget.Channels(3, cout), residual: gRes.Channels(1, cout));
            rec.Submit();
        }
        var all = CpuTensor.FromFrameMajor(d.Download(gTarget), 40, t, h, w);
        Close("channel slices + residual, no bias", all.SliceChannels(3, cout), expected, EmulationTol, p);
        Assert.Equal(target.SliceChannels(0, 3).Data, all.SliceChannels(0, 3).Data);
        Assert.Equal(target.SliceChannels(36, 4).Data, all.SliceChannels(36, 4).Data);
        gpu.AssertClean();
    }

    /// <summary>
    /// Streamed (chunks of frames, the cache read in place as past) equals whole clip bit for bit, and so do runs whose
    /// scratch budget splits a push into chunks of frames or bands of tile rows.
    /// </summary>
    [Theory]
    [InlineData(new[] { 1 }, 0L, Precision.Fp32, WinogradTile.F4)]
    [InlineData(new[] { 1, 3, 2 }, 0L, Precision.Fp32, WinogradTile.F4)]
    [InlineData(new[] { 2 }, 0L, Precision.Fp32, WinogradTile.F2)]
    [InlineData(new[] { 9 }, 400_000L, Precision.Fp32, WinogradTile.F4)]  // 3 frames per pass
    [InlineData(new[] { 9 }, 60_000L, Precision.Fp32, WinogradTile.F4)]   // one frame per pass in bands of one tile row
    [InlineData(new[] { 1, 3, 2 }, 0L, Precision.Fp16, WinogradTile.F2)]
    public void StreamedAndChunkedAreBitIdenticalToWholeClip(int[] chunks, long budget, Precision p, WinogradTile tile)
    {
        const int cin = 19, cout = 37, t = 9, h = 11, w = 10, kt = 3;
        var d = gpu.Device;
        var x = CpuTensor.Random(cin, t, h, w, seed: 71).In(p);
        var (wt, b) = RandomWeights(cout, cin, kt, seed: 72, p: p);
        using var cw = ConvWeights.UploadWinograd(d, wt, b, cout, cin, kt, tile, p);
        using var gx = d.Upload(x.ToFrameMajor(), cin, t, h, w, p);

        using var replicated = d.CreateTensor(cin, kt - 1, h, w, p);
        using var whole = d.CreateTensor(cout, t, h, w, p);
        using (var rec = d.BeginCommands())
        {
            for (int i = 0; i < kt - 1; i++) rec.Copy(gx.Frames(0, 1), replicated.Frames(i, 1));
            Conv.Forward(rec, replicated, gx, cw, whole);
            rec.Submit();
        }

        using var streamed = d.CreateTensor(cout, t, h, w, p);
        using var cacheA = d.CreateTensor(cin, kt, h, w, p);
        using var cacheB = d.CreateTensor(cin, kt, h, w, p);
        var (cache, spare) = (cacheA, cacheB);
        long old = WinogradConv.ScratchBudgetBytes;
        if (budget > 0) WinogradConv.ScratchBudgetBytes = budget;
        try
        {
            using var rec = d.BeginCommands();
            int cached = -1, produced = 0, f = 0, ci = 0;
            while (f < t)
            {
                int n = Math.Min(chunks[ci++ % chunks.Length], t - f);
                var chunk = gx.Frames(f, n);
                if (cached < 0)
                {
                    for (int i = 0; i < kt - 1; i++) rec.Copy(chunk.Frames(0, 1), cache.Frames(i, 1));
                    cached = kt - 1;
                }
                int outs = Conv.OutputFrames(cached + n, kt, 1);
                Conv.Forward(rec, cache.WithFrames(cached), chunk, cw, streamed.Frames(produced, outs));
                produced += outs;
                int keepFrom = outs, keep = cached + n - keepFrom;
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
        finally { WinogradConv.ScratchBudgetBytes = old; }
        var a = d.Download(whole);
        var s = d.Download(streamed);
        for (int i = 0; i < a.Length; i++)
            if (BitConverter.SingleToInt32Bits(a[i]) != BitConverter.SingleToInt32Bits(s[i]))
                Assert.Fail($"element {i}: whole {a[i]:R} vs streamed {s[i]:R}");
        var emulated = CpuWinograd.Conv(CpuTensor.ConcatFrames(RepeatFirst(x, kt - 1), x), wt, b, cout, kt, (int)tile);
        Close("whole clip", CpuTensor.FromFrameMajor(a, cout, t, h, w), emulated, EmulationTol, p);
        gpu.AssertClean();
    }
}

/// <summary>Kernel variants, the per-layer choice, refusals and the log.</summary>
[Collection("gpu")]
public sealed class WinogradChoiceTests(GpuFixture gpu)
{
    [Theory]
    [InlineData(WinogradTile.F4, Precision.Fp32)]
    [InlineData(WinogradTile.F2, Precision.Fp32)]
    [InlineData(WinogradTile.F2, Precision.Fp16)]
    public void TexelAndSsboKernelsGiveIdenticalBits(WinogradTile tile, Precision p)
    {
        var d = gpu.Device;
        var x = CpuTensor.Random(21, 3, 9, 7, seed: 5).In(p);
        var w = CpuTensor.Random(1, 1, 1, 19 * 21 * 27, 8, 0.05f).Data;
        var b = CpuTensor.Random(1, 1, 1, 19, 9, 0.5f).Data;
        using var cw = ConvWeights.UploadWinograd(d, w, b, 19, 21, 3, tile, p);
        using var gx = d.Upload(x.ToFrameMajor(), 21, 3, 9, 7, p);
        using var past = d.Upload(x.SliceFrames(0, 2).ToFrameMajor(), 21, 2, 9, 7, p);
        float[] Run(bool texel)
        {
            using var gy = d.CreateTensor(19, 3, 9, 7, p);
            WinogradConv.KernelOverride = texel;
            try
            {
                using var rec = d.BeginCommands();
                Conv.Forward(rec, past, gx, cw, gy);
                rec.Submit();
            }
            finally { WinogradConv.KernelOverride = null; }
            return d.Download(gy);
        }
        var a = Run(true);
        var e = Run(false);
        for (int i = 0; i < a.Length; i++)
            if (BitConverter.SingleToInt32Bits(a[i]) != BitConverter.SingleToInt32Bits(e[i]))
                Assert.Fail($"element {i}: texel {a[i]:R} vs ssbo {e[i]:R}");
        gpu.AssertClean();
    }

    [Fact]
    public void TheChoiceFollowsTheModeAndRefusesLayersWinogradCannotRunByName()
    {
        var d = gpu.Device;
        var oldEnv = Environment.GetEnvironmentVariable(Conv.VariantVariable);
        Environment.SetEnvironmentVariable(Conv.VariantVariable, null);
        try
        {
            bool cpu = d.Info.Kind == DeviceKind.Cpu;
            // Auto: stride-1 Same 3x3 convs on CPU drivers, F4 in fp32 and F2 in fp16; never 1x1 or strided ones.
            Assert.Equal(cpu ? WinogradTile.F4 : null, WinogradConv.TileFor(d, Precision.Fp32, 3, 3, 3, 1, 1, ConvPadding.Same, "l.conv1"));
            if (d.Float16Enabled)
                Assert.Equal(cpu ? WinogradTile.F2 : null, WinogradConv.TileFor(d, Precision.Fp16, 3, 3, 3, 1, 1, ConvPadding.Same, "l.conv1"));
            Assert.Null(WinogradConv.TileFor(d, Precision.Fp32, 1, 1, 1, 1, 1, ConvPadding.Same, "l.nin_shortcut"));
            Assert.Null(WinogradConv.TileFor(d, Precision.Fp32, 3, 3, 3, 2, 2, ConvPadding.RightBottom, "l.down"));

            WinogradConv.ModeOverride = WinogradMode.ForcedF2;
            Assert.Equal(WinogradTile.F2, WinogradConv.TileFor(d, Precision.Fp32, 1, 3, 3, 1, 1, ConvPadding.Same, "l.conv"));
            Assert.Null(WinogradConv.TileFor(d, Precision.Fp32, 1, 1, 1, 1, 1, ConvPadding.Same, "l.nin_shortcut"));
            var e = Assert.Throws<ArgumentException>(() => WinogradConv.TileFor(d, Precision.Fp32, 1, 3, 3, 1, 2, ConvPadding.RightBottom, "encoder.down1.3.conv"));
            Assert.Contains("encoder.down1.3.conv", e.Message);
            Assert.Contains("stride 1x2x2", e.Message);
            Assert.Throws<ArgumentException>(() => WinogradConv.TileFor(d, Precision.Fp32, 3, 3, 3, 2, 1, ConvPadding.Same, "l.temporal_stride"));

            WinogradConv.ModeOverride = WinogradMode.ForcedF4;
            if (d.Float16Enabled)
                Assert.Contains("l.conv", Assert.Throws<ArgumentException>(() => WinogradConv.TileFor(d, Precision.Fp16, 1, 3, 3, 1, 1, ConvPadding.Same, "l.conv")).Message);

            WinogradConv.ModeOverride = WinogradMode.Off;
            Assert.Null(WinogradConv.TileFor(d, Precision.Fp32, 3, 3, 3, 1, 1, ConvPadding.Same, "l.conv1"));
            WinogradConv.ModeOverride = null;

            // The environment variable: winograd* forces, direct variants turn Winograd off.
            Environment.SetEnvironmentVariable(Conv.VariantVariable, "Winograd-F4");
            Assert.Equal(WinogradMode.ForcedF4, WinogradConv.CurrentMode().Mode);
            Assert.Equal(cpu ? ConvVariant.Texel : ConvVariant.Ssbo, Conv.VariantFor(d)); // other layers keep the device's kernel
            Environment.SetEnvironmentVariable(Conv.VariantVariable, "winograd");
            Assert.Equal(WinogradTile.F4, WinogradConv.TileFor(d, Precision.Fp32, 3, 3, 3, 1, 1, ConvPadding.Same, "l.conv1"));
            Environment.SetEnvironmentVariable(Conv.VariantVariable, "texel");
            Assert.Null(WinogradConv.TileFor(d, Precision.Fp32, 3, 3, 3, 1, 1, ConvPadding.Same, "l.conv1"));
            Environment.SetEnvironmentVariable(Conv.VariantVariable, "direct");
            Assert.Null(WinogradConv.TileFor(d, Precision.Fp32, 3, 3, 3, 1, 1, ConvPadding.Same, "l.conv1"));
            Assert.Equal(cpu ? ConvVariant.Texel : ConvVariant.Ssbo, Conv.VariantFor(d));
            Environment.SetEnvironmentVariable(Conv.VariantVariable, "winograd-f3");
            Assert.Contains("winograd-f4", Assert.Throws<ArgumentException>(() => WinogradConv.CurrentMode()).Message);
        }
        finally
        {
            WinogradConv.ModeOverride = null;
            Environment.SetEnvironmentVariable(Conv.VariantVariable, oldEnv);
        }
    }

    [Fact]
    public void WinogradWeightsRefuseStridedCallsAndBadShapesNamingTheLayer()
    {
        var d = gpu.Device;
        using var cw = ConvWeights.UploadWinograd(d, new float[5 * 3 * 27], new float[5], 5, 3, 3, WinogradTile.F4);
        Assert.Equal(WinogradTile.F4, cw.Winograd);
        Assert.Equal(8, cw.Packed.ElementCount); // the bias, padded to CoutPad
        Assert.Equal(36L * 3 * 3 * 8, cw.WinogradParts.Sum(p => p.ElementCount)); // U[36 points][3 taps][3][CoutPad 8]
        using var x = d.CreateTensor(3, 3, 8, 8);
        using var past = d.CreateTensor(3, 2, 8, 8);
        using var y = d.CreateTensor(5, 2, 4, 4);
        using (var rec = d.BeginCommands())
        {
            var e = Assert.Throws<ArgumentException>(() => Conv.Forward(rec, past, x, cw, y, 2, 2, ConvPadding.RightBottom, label: "encoder.down2.3"));
            Assert.Contains("encoder.down2.3", e.Message);
            Assert.Contains("Winograd", e.Message);
            rec.Submit();
        }
        Assert.Contains("needs", Assert.Throws<ArgumentException>(() => ConvWeights.UploadWinograd(d, new float[10], Array.Empty<float>(), 5, 3, 3, WinogradTile.F2)).Message);
        Assert.Contains("bias", Assert.Throws<ArgumentException>(() => ConvWeights.UploadWinograd(d, new float[5 * 3 * 27], new float[4], 5, 3, 3, WinogradTile.F2)).Message);
        // F(4x4,3x3) is fp32 only: its transformed weights rounded to halves cost 4-7e-3 of rms per conv.
        Assert.Contains("fp16", Assert.Throws<ArgumentException>(() => ConvWeights.UploadWinograd(d, new float[5 * 3 * 27], new float[5], 5, 3, 3, WinogradTile.F4, Precision.Fp16)).Message);
        gpu.AssertClean();
    }

    /// <summary>
    /// U of a 400->768 3x3x3 layer in F(4x4,3x3) is 133 MB, more than lavapipe's largest buffer (128 MiB): it is stored in
    /// parts of consecutive points, one product dispatch each, and the result is the same conv.
    /// </summary>
    [Fact]
    public void LargeLayersSplitTheirTransformedWeightsIntoParts()
    {
        var d = gpu.Device;
        const int cin = 400, cout = 768, kt = 3;
        var x = CpuTensor.Random(cin, 1, 5, 4, seed: 21);
        var w = CpuTensor.Random(1, 1, 1, cout * cin * kt * 9, 22, (float)(1.0 / Math.Sqrt(cin * kt * 9))).Data;
        var b = CpuTensor.Random(1, 1, 1, cout, 23, 0.5f).Data;
        using var cw = ConvWeights.UploadWinograd(d, w, b, cout, cin, kt, WinogradTile.F4);
        long bytes = 36L * kt * cin * cout * 4;
        Assert.Equal(bytes > d.Memory.MaxAllocationBytes ? 2 : 1, cw.WinogradParts.Count);
        using var gx = d.Upload(x.ToFrameMajor(), cin, 1, 5, 4);
        using var past = d.Upload(CpuTensor.ConcatFrames(x, x).ToFrameMajor(), cin, 2, 5, 4);
        using var gy = d.CreateTensor(cout, 1, 5, 4);
        using (var rec = d.BeginCommands())
        {
            Conv.Forward(rec, past, gx, cw, gy);
            rec.Submit();
        }
        var got = CpuTensor.FromFrameMajor(d.Download(gy), cout, 1, 5, 4);
        var expected = CpuOps.CausalConv3d(x, w, b, cout, (kt, 3, 3), (1, 1, 1), 1);
        Assert.InRange(CpuTensor.RelErr(got, expected), 0, WinogradTests.DirectTol(WinogradTile.F4));
        gpu.AssertClean();
    }

    [Fact]
    public void TheLogNamesTheTileKernelAndChunking()
    {
        var d = gpu.Device;
        var lines = new List<string>();
        var old = Conv.TileLog;
        Conv.TileLog = lines.Add;
        try
        {
            using var w = ConvWeights.UploadWinograd(d, new float[4 * 5 * 9], new float[4], 4, 5, 1, WinogradTile.F2);
            using var x = d.CreateTensor(5, 2, 6, 10);
            using var y = d.CreateTensor(4, 2, 6, 10);
            using var rec = d.BeginCommands();
            Conv.Forward(rec, null, x, w, y, label: "test.winograd_log");
            rec.Submit();
        }
        finally { Conv.TileLog = old; }
        var line = Assert.Single(lines, l => l.Contains("test.winograd_log"));
        Assert.Contains("winograd F(2x2,3x3)", line);
        Assert.Contains("2 frame(s) per pass", line);
        gpu.AssertClean();
    }
}

using WfVae.Operators;
using WfVae.Runtime;
using WfVae.Tests.Reference;
using Xunit;
using Xunit.Abstractions;

namespace WfVae.Tests.Operators;

/// <summary>
/// What the operator table (OpTable: Winograd F2/F4 against the direct reference, dense and on channel slices, with
/// residual and without bias, fp32 and fp16) cannot express: the Winograd convolution (shaders/winograd_*.comp)
/// against two CPU references at once on odd, non-square shapes, arbitrary past frames, streamed and chunked bit
/// identity, texel == ssbo bits, the per-layer choice and its refusals:
/// <list type="bullet">
/// <item>CpuWinograd, the same algorithm in float32: rel_err ≤ 1e-5 (+ the fp16 output rounding). The two differ only
/// by rounding inside the transforms (the order of a few float additions), ~1e-6 of rms(y); an indexing error (wrong
/// tile, tap, point, channel, frame, padding) moves elements by O(rms).</item>
/// <item>CpuOps, the direct conv in double: the algorithm's own error. Measured on these shapes (K ≤ 1080):
/// F(2x2,3x3) up to ~1e-5 of rms, like the direct kernels; F(4x4,3x3) up to ~5e-5 (its transforms scale values by up
/// to 8 before the products are summed). Bounds 3e-5 and 2e-4 keep a margin of 3-4 while a wrong tap moves elements
/// by ≥ 3e-2.</item>
/// </list>
/// fp16 runs F(2x2,3x3) only: F(4x4,3x3)'s transformed weights rounded to halves cost 4-7e-3 of rms (F2: up to 8e-4,
/// within the fp16 bound of the output rounding, see OpTable), so UploadWinograd refuses that pair.
/// Every case runs with the texel kernels (CPU drivers), the texel kernels whose products read through device
/// addresses (lavapipe from Mesa 25) and the storage-buffer kernels (GPUs), on devices whose kernel variant is forced to
/// each (the Winograd kernels follow the device's variant); all three run on lavapipe.
/// </summary>
[Collection(Gpu.Ops)]
public sealed class WinogradTexelTests(GpuFixture gpu, ITestOutputHelper output) : WinogradTests(gpu, output, WinogradLoads.Texel);

[Collection(Gpu.Ops)]
public sealed class WinogradAddressTests(GpuFixture gpu, ITestOutputHelper output) : WinogradTests(gpu, output, WinogradLoads.Address);

[Collection(Gpu.Ops)]
public sealed class WinogradSsboTests(GpuFixture gpu, ITestOutputHelper output) : WinogradTests(gpu, output, WinogradLoads.Ssbo);

/// <summary>How the Winograd kernels read their operands: texel views, device addresses (products), storage buffers.</summary>
public enum WinogradLoads { Texel, Address, Ssbo }

public abstract class WinogradTests
{
    private const double EmulationTol = 1e-5;
    private readonly GpuFixture gpu;
    private readonly ITestOutputHelper output;
    private readonly WinogradLoads _loads;
    private readonly VulkanDevice _device;

    protected WinogradTests(GpuFixture gpu, ITestOutputHelper output, WinogradLoads loads)
    {
        this.gpu = gpu;
        this.output = output;
        _loads = loads;
        _device = gpu.With(Kernels(loads));
    }

    /// <summary>Kernel options that make the Winograd kernels read through texels, addresses or storage buffers.</summary>
    internal static KernelOptions Kernels(WinogradLoads loads) => loads == WinogradLoads.Ssbo
        ? new() { Variant = KernelVariant.Ssbo }
        : new() { Variant = KernelVariant.Texel, AddressLoads = loads == WinogradLoads.Address };

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
        ReferenceAssert.Close(output, $"{_loads.ToString().ToLowerInvariant()} {p} {what}", got, expected, Fp16.Tolerance(p, expected, tol));

    /// <summary>Runs the Winograd conv of past ++ x with every operand stored in <paramref name="p"/>.</summary>
    private CpuTensor Gpu(CpuTensor? past, CpuTensor x, float[] w, float[] b, int cout, int kt, WinogradTile tile, CpuTensor? residual = null,
        Precision p = Precision.Fp32)
    {
        var d = _device;
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
    [InlineData(24, 36, 3, 3, 8, 8, WinogradTile.F2)] // 48 product columns: all in one invocation on CPU drivers
    [InlineData(7, 9, 3, 5, 6, 10, WinogradTile.F2)]  // 80 columns: one block of 10 invocations on CPU drivers
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
        var x = CpuTensor.Random(cin, t, h, w, seed: 71).In(p);
        var (wt, b) = RandomWeights(cout, cin, kt, seed: 72, p: p);
        var a = WholeClip(_device, x, wt, b, cout, kt, tile, p);
        // The scratch budget is a device option: the streamed run goes through a device with the small budget.
        var ds = budget > 0 ? gpu.With(Kernels(_loads) with { WinogradScratchBytes = budget }) : _device;
        var s = Streamed(ds, x, wt, b, cout, kt, tile, p, chunks);
        ReferenceAssert.Bits(a, s, "whole vs streamed");
        var emulated = CpuWinograd.Conv(CpuTensor.ConcatFrames(RepeatFirst(x, kt - 1), x), wt, b, cout, kt, (int)tile);
        Close("whole clip", CpuTensor.FromFrameMajor(a, cout, t, h, w), emulated, EmulationTol, p);
        gpu.AssertClean();
    }

    private static float[] WholeClip(VulkanDevice d, CpuTensor x, float[] wt, float[] b, int cout, int kt, WinogradTile tile, Precision p)
    {
        using var cw = ConvWeights.UploadWinograd(d, wt, b, cout, x.C, kt, tile, p);
        using var gx = d.Upload(x.ToFrameMajor(), x.C, x.T, x.H, x.W, p);
        using var replicated = d.CreateTensor(x.C, kt - 1, x.H, x.W, p);
        using var whole = d.CreateTensor(cout, x.T, x.H, x.W, p);
        using (var rec = d.BeginCommands())
        {
            for (int i = 0; i < kt - 1; i++) rec.Copy(gx.Frames(0, 1), replicated.Frames(i, 1));
            Conv.Forward(rec, replicated, gx, cw, whole);
            rec.Submit();
        }
        return d.Download(whole);
    }

    /// <summary>The conv pushed in chunks of frames, the cache of the last kt − 1 frames read in place as past.</summary>
    private static float[] Streamed(VulkanDevice d, CpuTensor x, float[] wt, float[] b, int cout, int kt, WinogradTile tile, Precision p, int[] chunks)
    {
        int cin = x.C, t = x.T, h = x.H, w = x.W;
        using var cw = ConvWeights.UploadWinograd(d, wt, b, cout, cin, kt, tile, p);
        using var gx = d.Upload(x.ToFrameMajor(), cin, t, h, w, p);
        using var streamed = d.CreateTensor(cout, t, h, w, p);
        using var cacheA = d.CreateTensor(cin, kt, h, w, p);
        using var cacheB = d.CreateTensor(cin, kt, h, w, p);
        var (cache, spare) = (cacheA, cacheB);
        using (var rec = d.BeginCommands())
        {
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
        return d.Download(streamed);
    }
}

/// <summary>Kernel variants, the per-layer choice, refusals and the log.</summary>
[Collection(Gpu.Ops)]
public sealed class WinogradChoiceTests(GpuFixture gpu)
{
    [Theory]
    [InlineData(WinogradTile.F4, Precision.Fp32)]
    [InlineData(WinogradTile.F2, Precision.Fp32)]
    [InlineData(WinogradTile.F2, Precision.Fp16)]
    public void TexelAddressAndSsboKernelsGiveIdenticalBits(WinogradTile tile, Precision p)
    {
        var x = CpuTensor.Random(21, 3, 9, 7, seed: 5).In(p);
        var w = CpuTensor.Random(1, 1, 1, 19 * 21 * 27, 8, 0.05f).Data;
        var b = CpuTensor.Random(1, 1, 1, 19, 9, 0.5f).Data;
        float[] Run(WinogradLoads loads)
        {
            var d = gpu.With(WinogradTests.Kernels(loads));
            Assert.Equal(loads != WinogradLoads.Ssbo, WinogradConv.UsesTexels(d, p));
            Assert.Equal(loads == WinogradLoads.Address, WinogradConv.UsesAddressLoads(d));
            using var cw = ConvWeights.UploadWinograd(d, w, b, 19, 21, 3, tile, p);
            using var gx = d.Upload(x.ToFrameMajor(), 21, 3, 9, 7, p);
            using var past = d.Upload(x.SliceFrames(0, 2).ToFrameMajor(), 21, 2, 9, 7, p);
            using var gy = d.CreateTensor(19, 3, 9, 7, p);
            using (var rec = d.BeginCommands())
            {
                Conv.Forward(rec, past, gx, cw, gy);
                rec.Submit();
            }
            return d.Download(gy);
        }
        var a = Run(WinogradLoads.Texel);
        var e = Run(WinogradLoads.Ssbo);
        ReferenceAssert.Bits(a, e, "texel vs ssbo");
        ReferenceAssert.Bits(Run(WinogradLoads.Address), e, "address vs ssbo");
        gpu.AssertClean();
    }

    [Fact]
    public void TheChoiceFollowsTheDeviceOptionsAndRefusesLayersWinogradCannotRunByName()
    {
        var d = gpu.Device;
        bool cpu = d.Info.Kind == DeviceKind.Cpu;
        // Auto: stride-1 Same 3x3 convs on CPU drivers, F4 in fp32 and F2 in fp16; never 1x1 or strided ones.
        Assert.Equal(cpu ? WinogradTile.F4 : null, WinogradConv.TileFor(d, Precision.Fp32, 3, 3, 3, 1, 1, ConvPadding.Same, "l.conv1"));
        if (d.Float16Enabled)
            Assert.Equal(cpu ? WinogradTile.F2 : null, WinogradConv.TileFor(d, Precision.Fp16, 3, 3, 3, 1, 1, ConvPadding.Same, "l.conv1"));
        Assert.Null(WinogradConv.TileFor(d, Precision.Fp32, 1, 1, 1, 1, 1, ConvPadding.Same, "l.nin_shortcut"));
        Assert.Null(WinogradConv.TileFor(d, Precision.Fp32, 3, 3, 3, 2, 2, ConvPadding.RightBottom, "l.down"));

        var f2 = gpu.With(Parse("winograd-f2"));
        Assert.Equal(WinogradTile.F2, WinogradConv.TileFor(f2, Precision.Fp32, 1, 3, 3, 1, 1, ConvPadding.Same, "l.conv"));
        Assert.Null(WinogradConv.TileFor(f2, Precision.Fp32, 1, 1, 1, 1, 1, ConvPadding.Same, "l.nin_shortcut"));
        var e = Assert.Throws<ArgumentException>(() => WinogradConv.TileFor(f2, Precision.Fp32, 1, 3, 3, 1, 2, ConvPadding.RightBottom, "encoder.down1.3.conv"));
        Assert.Contains("encoder.down1.3.conv", e.Message);
        Assert.Contains("stride 1x2x2", e.Message);
        Assert.Throws<ArgumentException>(() => WinogradConv.TileFor(f2, Precision.Fp32, 3, 3, 3, 2, 1, ConvPadding.Same, "l.temporal_stride"));
        // Other layers keep the device's direct kernel.
        Assert.Equal(cpu ? KernelVariant.Texel : KernelVariant.Ssbo, Conv.VariantFor(f2));

        var f4 = gpu.With(Parse("Winograd-F4 "));
        Assert.Equal(WinogradTile.F4, WinogradConv.TileFor(f4, Precision.Fp32, 3, 3, 3, 1, 1, ConvPadding.Same, "l.conv1"));
        if (f4.Float16Enabled)
            Assert.Contains("l.conv", Assert.Throws<ArgumentException>(() => WinogradConv.TileFor(f4, Precision.Fp16, 1, 3, 3, 1, 1, ConvPadding.Same, "l.conv")).Message);
        Assert.Equal(WinogradTile.F4, WinogradConv.TileFor(gpu.With(Parse("winograd")), Precision.Fp32, 3, 3, 3, 1, 1, ConvPadding.Same, "l.conv1"));

        // "direct" and a forced direct variant turn Winograd off; "direct" leaves the variant to the device.
        foreach (var off in new[] { "direct", "texel", "ssbo" })
            Assert.Null(WinogradConv.TileFor(gpu.With(Parse(off)), Precision.Fp32, 3, 3, 3, 1, 1, ConvPadding.Same, "l.conv1"));
        Assert.Null(Parse("direct").Variant);
        Assert.Equal(WinogradMode.Off, new KernelOptions { Variant = KernelVariant.Ssbo }.WinogradInForce);
        Assert.Equal(WinogradMode.Auto, new KernelOptions().WinogradInForce);
        Assert.Contains("winograd-f4", Assert.Throws<ArgumentException>(() => Parse("winograd-f3")).Message);
        gpu.AssertClean();
    }

    /// <summary>
    /// Address loads: by default on CPU drivers from Mesa 25 only (the suite's lavapipe is Mesa 22.3: texel fetches;
    /// Mesa25Tests sees the other side), WFVAE_ADDRESS_LOADS forces either way, and a device whose addresses are off
    /// never takes them. The Mesa release is read from the driver string.
    /// </summary>
    [Fact]
    public void AddressLoadsFollowTheDriverAndTheOption()
    {
        var d = gpu.Device;
        var mesa = d.Info.MesaVersion;
        Assert.Equal(d.Info.BufferDeviceAddress && (d.Options.Kernels.AddressLoads ?? d.Info.Kind == DeviceKind.Cpu), d.DeviceAddresses);
        Assert.Equal(d.DeviceAddresses && (d.Options.Kernels.AddressLoads ?? mesa >= new Version(25, 0)), WinogradConv.UsesAddressLoads(d));
        KernelOptions Env(string value) => new DeviceOptions().WithEnvironment(n => n == DeviceOptions.AddressLoadsVariable ? value : null).Kernels;
        Assert.True(Env("1").AddressLoads);
        Assert.False(Env("off").AddressLoads);
        Assert.Contains(DeviceOptions.AddressLoadsVariable, Assert.Throws<ArgumentException>(() => Env("gather")).Message);
        if (d.Info.BufferDeviceAddress)
            Assert.True(WinogradConv.UsesAddressLoads(gpu.With(new KernelOptions { AddressLoads = true })));
        var off = gpu.With(new KernelOptions { AddressLoads = false });
        Assert.False(off.DeviceAddresses);
        Assert.False(WinogradConv.UsesAddressLoads(off));

        Assert.Equal(PhysicalDeviceInfo.ParseMesaVersion(d.Info.Driver), mesa);
        Assert.Equal(new Version(25, 0, 7), PhysicalDeviceInfo.ParseMesaVersion("llvmpipe Mesa 25.0.7 (LLVM 15.0.6)"));
        Assert.Equal(new Version(24, 2, 0), PhysicalDeviceInfo.ParseMesaVersion("radv Mesa 24.2"));
        Assert.Null(PhysicalDeviceInfo.ParseMesaVersion("NVIDIA 560.35.03"));
        gpu.AssertClean();
    }

    /// <summary>WFVAE_CONV_VARIANT=<paramref name="value"/> as the device reads it at creation.</summary>
    private static KernelOptions Parse(string value) =>
        new DeviceOptions().WithEnvironment(n => n == DeviceOptions.VariantVariable ? value : null).Kernels;

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
        var lines = new List<string>();
        using var d = VulkanDevice.Create(new DeviceOptions { PipelineCachePath = "", Verbose = true, Log = lines.Add });
        using (var w = ConvWeights.UploadWinograd(d, new float[4 * 5 * 9], new float[4], 4, 5, 1, WinogradTile.F2))
        using (var x = d.CreateTensor(5, 2, 6, 10))
        using (var y = d.CreateTensor(4, 2, 6, 10))
        using (var rec = d.BeginCommands())
        {
            Conv.Forward(rec, null, x, w, y, label: "test.winograd_log");
            rec.Submit();
        }
        var line = Assert.Single(lines, l => l.Contains("test.winograd_log"));
        Assert.Contains("winograd F(2x2,3x3)", line);
        Assert.Contains("2 frame(s) per pass", line);
        Assert.Contains("products 32 columns", line); // 2 frames x 15 tiles of 2x2, padded to 16 per frame
        Assert.Empty(d.ValidationErrors);
    }
}

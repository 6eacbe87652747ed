using WfVae.Operators;
using WfVae.Runtime;
using Xunit;

namespace WfVae.Tests.Operators;

/// <summary>Per-layer tile choice (the GPU kernel narrowed for few output channels, one tile per texel kernel) and its --verbose log.</summary>
[Collection(Gpu.Ops)]
public sealed class ConvTileChoiceTests(GpuFixture gpu)
{
    [Fact]
    public void FewOutputChannelsNarrowTheSsboTileAndManyKeepTheDeviceDefault()
    {
        var d = gpu.Device;
        const KernelVariant variant = KernelVariant.Ssbo;
        var wide = ConvTiles.For(d, variant);
        Assert.Equal(wide, ConvTiles.For(d, variant, wide.BM));
        foreach (int cout in new[] { 3, 8, 12, 16, 24 })
        {
            var t = ConvTiles.For(d, variant, cout);
            t.Validate(d, variant);
            int coutPad = (cout + 3) / 4 * 4;
            // The SSBO kernel keeps the wide tile only where the narrowed one would overflow shared memory.
            if (t == wide && variant == KernelVariant.Ssbo && wide.BK * (coutPad + wide.WG * wide.TN) * 4 > d.Info.MaxSharedMemoryBytes) continue;
            Assert.True(t.BM < wide.BM, $"{cout} channels: tile {t} not narrower than {wide}");
            Assert.True(t.BM >= Math.Min(coutPad, wide.TM) && t.BM <= Math.Max(coutPad, wide.TM), $"{cout} channels: {t.BM}-channel tile");
            Assert.Equal(wide.WG, t.WG); // same invocations, spent along the positions
        }
    }

    /// <summary>The texel kernels keep one tile whatever the channels: each tile is one more shader for lavapipe to compile.</summary>
    [Theory]
    [InlineData(KernelVariant.Texel)]
    [InlineData(KernelVariant.TexelRows)]
    [InlineData(KernelVariant.TexelPointwise)]
    public void TexelKernelsKeepOneTileForEveryChannelCount(KernelVariant variant)
    {
        var d = gpu.Device;
        var wide = ConvTiles.For(d, variant);
        foreach (int cout in new[] { 3, 8, 12, 16, 24, 32, 64, 768 })
            Assert.Equal(wide, ConvTiles.For(d, variant, cout));
    }

    /// <summary>Tiles no compiler finishes in reasonable time (64x64 outputs per invocation) are refused before any shader is built.</summary>
    [Theory]
    [InlineData(64, 64, 64, 64, 64)]
    [InlineData(2048, 8, 4, 4, 8)]
    public void OversizedTileOverridesAreRefusedNamingTheVariable(int wg, int wgn, int tm, int tn, int bk)
    {
        var tiles = new TileShape(wg, wgn, tm, tn, bk);
        using var d = VulkanDevice.Create(new DeviceOptions { PipelineCachePath = "", Kernels = new KernelOptions { Tiles = tiles } });
        using var w = ConvWeights.Upload(d, new float[3 * 5], new float[3], 3, 5, 1, 1, 1);
        using var x = d.CreateTensor(5, 2, 7, 11);
        using var y = d.CreateTensor(3, 2, 7, 11);
        using var rec = d.BeginCommands();
        int built = d.Pipelines.Built;
        var e = Assert.Throws<ArgumentException>(() => Conv.Forward(rec, null, x, w, y, label: "test.oversized_tiles"));
        Assert.StartsWith($"WFVAE_CONV_TILES={tiles}: ", e.Message);
        Assert.Contains("at most", e.Message);
        Assert.Equal(built, d.Pipelines.Built);
    }

    [Fact]
    public void TheTileLogNamesLayerVariantPrecisionAndTilesOncePerLayer()
    {
        var lines = new List<string>();
        using var d = VulkanDevice.Create(new DeviceOptions { PipelineCachePath = "", Verbose = true, Log = lines.Add });
        {
            using var w = ConvWeights.Upload(d, new float[3 * 5 * 9], new float[3], 3, 5, 1, 3, 3);
            using var x = d.CreateTensor(5, 2, 7, 11);
            using var y = d.CreateTensor(3, 2, 7, 11);
            for (int i = 0; i < 2; i++)
            {
                using var rec = d.BeginCommands();
                Conv.Forward(rec, null, x, w, y, label: "test.conv_out_tile_log");
                rec.Submit();
            }
        }
        var line = Assert.Single(lines, l => l.Contains("test.conv_out_tile_log"));
        Assert.Contains("5->3 1x3x3", line);
        Assert.Contains("fp32", line);
        Assert.Contains(KernelOptions.Name(Conv.VariantFor(d)), line);
        Assert.Contains($"TM {ConvTiles.For(d, Conv.VariantFor(d), 3).TM}", line);
        Assert.Empty(d.ValidationErrors);

        // Without Verbose, or without a sink, the same dispatch logs nothing.
        var quiet = new List<string>();
        using var q = VulkanDevice.Create(new DeviceOptions { PipelineCachePath = "", Verbose = false, Log = quiet.Add });
        using (var w = ConvWeights.Upload(q, new float[3 * 5 * 9], new float[3], 3, 5, 1, 3, 3))
        using (var x = q.CreateTensor(5, 2, 7, 11))
        using (var y = q.CreateTensor(3, 2, 7, 11))
        using (var rec = q.BeginCommands())
        {
            Conv.Forward(rec, null, x, w, y, label: "test.conv_out_tile_log");
            rec.Submit();
        }
        Assert.Empty(quiet);
    }
}

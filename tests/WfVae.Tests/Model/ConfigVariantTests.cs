using System.Text.Json.Nodes;
using WfVae.Model;
using WfVae.Model.Checkpoint;
using WfVae.Tests.Checkpoint;
using WfVae.Tests.Reference;
using Xunit;
using Xunit.Abstractions;
using ConfigNorm = WfVae.Model.Checkpoint.NormType;
using ConfigInterp = WfVae.Model.Checkpoint.TemporalInterpolation;

namespace WfVae.Tests.Model;

/// <summary>
/// The Vulkan model against the CPU reference (double accumulation) on random checkpoints of configs the
/// golden cases do not cover: other block counts, widths, latent sizes, norms, interpolation, frame sizes
/// that are not multiples of 8 (every 2x stage floors), clip lengths that are not 1 + 4k (the trailing
/// frames are dropped, as the official whole-clip path does) and batches. Bounds as for the golden data:
/// mean/logvar rel_err ≤ 1e-4, decoded ≤ 3e-4 (decoder fed the reference mean).
/// </summary>
[Collection(Gpu.Golden)]
public sealed class ConfigVariantTests(GpuFixture gpu, ITestOutputHelper log) : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>Small base config (B 8, L 4, Ee 8, Ed 16, ne = nd = 2, r 1, attention, LayerNorm, trilinear).</summary>
    private static WfVaeConfig Base => WfVaeConfig.Create(baseChannels: 8, latentDim: 4,
        encoderEnergyFlowHiddenSize: 8, decoderEnergyFlowHiddenSize: 16);

    /// <summary>A variant: the config, and the video [N, 3, T, H, W] it is run on.</summary>
    private sealed record Variant(string Name, WfVaeConfig Config, int N, int T, int H, int W);

    private static readonly Variant[] All =
    {
        new("no_attention", Base with { UseAttention = false }, 1, 9, 24, 32),
        new("connect_res_0_nearest", Base with { ConnectResLayerNum = 0, TemporalInterpolation = ConfigInterp.Nearest }, 1, 9, 24, 32),
        new("connect_res_2", Base with { ConnectResLayerNum = 2 }, 1, 9, 24, 32),
        new("enc_res_0_dec_res_1", Base with { EncoderNumResBlocks = 0, DecoderNumResBlocks = 1 }, 1, 9, 24, 32),
        new("enc_res_1_dec_res_3", Base with { EncoderNumResBlocks = 1, DecoderNumResBlocks = 3 }, 1, 5, 32, 32),
        new("enc_res_3", Base with { EncoderNumResBlocks = 3 }, 1, 5, 32, 32),
        new("latent_3_Ee12_Ed20", Base with { LatentDim = 3, EncoderEnergyFlowHiddenSize = 12, DecoderEnergyFlowHiddenSize = 20 }, 1, 9, 24, 32),
        new("latent_16_nearest", Base with { LatentDim = 16, TemporalInterpolation = ConfigInterp.Nearest }, 1, 9, 24, 32),
        // Widths that are odd and not multiples of 4 anywhere (shader vector paths), and a single latent channel.
        new("odd_widths_B10_Ee7_Ed13_L1", Base with { BaseChannels = 10, EncoderEnergyFlowHiddenSize = 7, DecoderEnergyFlowHiddenSize = 13, LatentDim = 1 }, 1, 5, 24, 24),
        new("base_24_24x40", Base with { BaseChannels = 24, EncoderEnergyFlowHiddenSize = 12, DecoderEnergyFlowHiddenSize = 20 }, 1, 5, 24, 40),
        new("groupnorm_Ee32_Ed64", Base with { BaseChannels = 32, EncoderEnergyFlowHiddenSize = 32, DecoderEnergyFlowHiddenSize = 64, EncoderNumResBlocks = 1, DecoderNumResBlocks = 1, NormType = ConfigNorm.GroupNorm }, 1, 5, 16, 24),
        // GroupNorm + a clip that is not 1 + 4k: the trailing frames are dropped but still shift the down2 statistics.
        new("groupnorm_nearest_T7_16x16", Base with { BaseChannels = 32, EncoderEnergyFlowHiddenSize = 64, DecoderEnergyFlowHiddenSize = 32, EncoderNumResBlocks = 1, DecoderNumResBlocks = 1, UseAttention = false, NormType = ConfigNorm.GroupNorm, TemporalInterpolation = ConfigInterp.Nearest }, 1, 7, 16, 16),
        new("frame_20x36", Base, 1, 5, 20, 36),
        new("frame_40x16_nearest", Base with { TemporalInterpolation = ConfigInterp.Nearest }, 1, 9, 40, 16),
        new("frame_44x12", Base, 1, 5, 44, 12),
        new("T6", Base, 1, 6, 32, 32),
        new("T7", Base, 1, 7, 32, 24),
        new("T1", Base, 1, 1, 32, 48),
        new("T2", Base, 1, 2, 32, 32),
        new("batch_2", Base, 2, 5, 24, 32),
    };

    public static TheoryData<string> Variants()
    {
        var d = new TheoryData<string>();
        foreach (var v in All) d.Add(v.Name);
        return d;
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void EngineMatchesTheReferenceOnARandomCheckpoint(string name)
    {
        var v = All.Single(x => x.Name == name);
        var folder = Path.Combine(_dir.Path, v.Name);
        RandomCheckpoint.Write(v.Config, folder, seed: v.Name.Length * 7919 + v.T);
        using var ckpt = WfVaeCheckpoint.Load(folder);
        var reference = new CpuReferenceModel(ReferenceConfig.Parse(File.ReadAllText(Path.Combine(folder, "config.json"))), ckpt.Get);
        using var model = WfVaeModel.Load(folder, gpu.Device);

        var items = Enumerable.Range(0, v.N).Select(n => CpuTensor.Random(3, v.T, v.H, v.W, seed: 100 + n)).ToArray();
        var video = new HostTensor(items.SelectMany(x => x.Data).ToArray(), v.N, 3, v.T, v.H, v.W);
        // Taps (tap names follow the config: block counts, attention) are compared for single clips.
        using var encTaps = new DeviceTaps();
        using var decTaps = new DeviceTaps();
        var posterior = model.Encode(video, v.N == 1 ? encTaps : null);

        // Official shapes: t = ⌊(T − 1)/4⌋ + 1 latents of ⌊H/8⌋ × ⌊W/8⌋; decoded 4t − 3 frames of 8⌊H/8⌋ × 8⌊W/8⌋.
        int t = (v.T - 1) / 4 + 1, h = v.H / 8, w = v.W / 8, l = v.Config.LatentDim;
        Assert.Equal(new long[] { v.N, l, t, h, w }, posterior.Mean.Shape);
        Assert.Equal(new long[] { v.N, l, t, h, w }, posterior.Logvar.Shape);

        var refMeans = new List<CpuTensor>();
        double meanErr = 0, logvarErr = 0, decodedErr = 0;
        var tapErrors = new List<(string Name, double Err)>();
        for (int n = 0; n < v.N; n++)
        {
            var (refMean, refLogvar, refTaps) = reference.Encode(items[n]);
            if (v.N == 1) tapErrors.AddRange(CompareTaps(refTaps, encTaps, "enc."));
            Assert.Equal((l, t, h, w), refMean.Shape);
            refMeans.Add(refMean);
            meanErr = Math.Max(meanErr, CpuTensor.RelErr(Item(posterior.Mean, n), refMean));
            logvarErr = Math.Max(logvarErr, CpuTensor.RelErr(Item(posterior.Logvar, n), refLogvar));
        }

        // The decoder gets the reference mean, as the golden decode got the official mean.
        var latents = new HostTensor(refMeans.SelectMany(x => x.Data).ToArray(), v.N, l, t, h, w);
        var decoded = model.Decode(latents, v.N == 1 ? decTaps : null);
        Assert.Equal(new long[] { v.N, 3, 4 * t - 3, 8 * h, 8 * w }, decoded.Shape);
        for (int n = 0; n < v.N; n++)
        {
            var (refDecoded, refTaps) = reference.Decode(refMeans[n]);
            if (v.N == 1) tapErrors.AddRange(CompareTaps(refTaps, decTaps, "dec."));
            Assert.Equal((3, 4 * t - 3, 8 * h, 8 * w), refDecoded.Shape);
            decodedErr = Math.Max(decodedErr, CpuTensor.RelErr(Item(decoded, n), refDecoded));
        }

        var worstTap = tapErrors.Count > 0 ? tapErrors.MaxBy(e => e.Err) : ("none", 0.0);
        log.WriteLine($"{v.Name}: mean {meanErr:E2}, logvar {logvarErr:E2}, decoded {decodedErr:E2}, {tapErrors.Count} taps, worst {worstTap.Item1} {worstTap.Item2:E2}");
        var badTaps = tapErrors.Where(e => e.Err > ReferenceTolerance.Tap).Select(e => $"{e.Name} {e.Err:E2}").ToList();
        Assert.True(badTaps.Count == 0, $"{v.Name}: taps over {ReferenceTolerance.Tap:E0}: {string.Join(", ", badTaps)}");
        Assert.True(meanErr <= ReferenceTolerance.Latent, $"{v.Name}: mean rel_err {meanErr:E2} > {ReferenceTolerance.Latent:E0}");
        Assert.True(logvarErr <= ReferenceTolerance.Latent, $"{v.Name}: logvar rel_err {logvarErr:E2} > {ReferenceTolerance.Latent:E0}");
        Assert.True(decodedErr <= ReferenceTolerance.Decoded, $"{v.Name}: decoded rel_err {decodedErr:E2} > {ReferenceTolerance.Decoded:E0}");
        gpu.AssertClean();
    }

    /// <summary>
    /// Frames of an incomplete group never reach a latent (LayerNorm): T = 2, 3, 4 give the image latent of
    /// frame 0, and T = 6, 7, 8 the latents of T = 5.
    /// </summary>
    [Fact]
    public void TrailingFramesOfAnIncompleteGroupAreDropped()
    {
        var folder = Path.Combine(_dir.Path, "trailing");
        RandomCheckpoint.Write(Base, folder, seed: 5);
        using var model = WfVaeModel.Load(folder, gpu.Device);
        var clip = CpuTensor.Random(3, 8, 16, 16, seed: 9);
        float[] Mean(int frames) => model.Encode(new HostTensor(clip.SliceFrames(0, frames).Data, 1, 3, frames, 16, 16)).Mean.Data;

        var image = Mean(1);
        for (int frames = 2; frames <= 4; frames++) Assert.Equal(image, Mean(frames));
        var five = Mean(5);
        for (int frames = 6; frames <= 8; frames++) Assert.Equal(five, Mean(frames));
        gpu.AssertClean();
    }

    public static TheoryData<string, string, string[]> InvalidConfigs() => new()
    {
        // B + Ee feeds only a conv; 2B + Ee is the first normalised width that breaks (mid.0.norm1).
        { "norm_type", "\"groupnorm\"", new[] { "groupnorm", "width 8", "base_channels" } },
        { "encoder_energy_flow_hidden_size", "16", new[] { "width 80", "2*base_channels+encoder_energy_flow_hidden_size" } },
        { "decoder_energy_flow_hidden_size", "16", new[] { "width 144", "4*base_channels+decoder_energy_flow_hidden_size" } },
        { "decoder_num_resblocks", "0", new[] { "decoder_num_resblocks", "0" } },
        { "attention_type", "\"AttnBlock3D\"", new[] { "attention_type", "AttnBlock3D" } },
        { "attention_type", "\"MultiHeadAttention\"", new[] { "attention_type", "MultiHeadAttention" } },
        { "t_interpolation", "\"bicubic\"", new[] { "t_interpolation", "bicubic" } },
    };

    /// <summary>Invalid configs are refused when the model is loaded, with the key and value in the message.</summary>
    [Theory]
    [MemberData(nameof(InvalidConfigs))]
    public void InvalidConfigsAreRefusedAtLoadNamingKeyAndValue(string key, string rawValue, string[] expectedInMessage)
    {
        // A valid checkpoint whose config.json is then edited: Load must refuse it before touching weights.
        var folder = Path.Combine(_dir.Path, "invalid");
        bool groupNormBase = key is "encoder_energy_flow_hidden_size" or "decoder_energy_flow_hidden_size";
        var valid = groupNormBase
            ? Base with { BaseChannels = 32, EncoderEnergyFlowHiddenSize = 32, DecoderEnergyFlowHiddenSize = 32, NormType = ConfigNorm.GroupNorm }
            : Base;
        RandomCheckpoint.Write(valid, folder, seed: 1);
        var configPath = Path.Combine(folder, "config.json");
        var json = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        json[key] = JsonNode.Parse(rawValue);
        File.WriteAllText(configPath, json.ToJsonString());

        long before = gpu.Device.Memory.CurrentBytes;
        var e = Assert.ThrowsAny<InvalidModelDataException>(() => WfVaeModel.Load(folder, gpu.Device));
        Assert.IsType<ConfigException>(e);
        foreach (var part in expectedInMessage) Assert.Contains(part, e.Message);
        Assert.Equal(before, gpu.Device.Memory.CurrentBytes);
    }

    /// <summary>A NaN in the decoder's last weight is found after every other weight is on the device: all of them go back.</summary>
    [Fact]
    public void AWeightRefusedLateInTheLoadLeavesNothingOnASharedDevice()
    {
        var folder = Path.Combine(_dir.Path, "late-nan");
        RandomCheckpoint.Write(Base, folder, seed: 1);
        var weights = Path.Combine(folder, CheckpointLocator.DiffusersWeightsName);
        long at;
        using (var file = SafetensorsFile.Open(weights)) at = file.Tensors["decoder.conv_out.bias"].DataOffset;
        using (var f = File.OpenWrite(weights))
        {
            f.Position = at;
            f.Write(BitConverter.GetBytes(float.NaN));
        }

        long before = gpu.Device.Memory.CurrentBytes;
        var e = Assert.Throws<CheckpointException>(() => WfVaeModel.Load(folder, gpu.Device));
        Assert.Contains("'decoder.conv_out.bias' holds NaN", e.Message);
        Assert.Equal(before, gpu.Device.Memory.CurrentBytes);
    }

    // Reference taps the engine does not materialise (the branch adds are fused into the inverse wavelets,
    // the norms into the SiLU that follows them).
    private static readonly HashSet<string> Fused = new() { "dec.connect_l1_plus_l2", "dec.conv_out_plus_l1", "enc.norm_out", "dec.norm_out" };

    /// <summary>rel_err of every reference tap with <paramref name="prefix"/>; the engine must have each one, with the same shape.</summary>
    private static IEnumerable<(string, double)> CompareTaps(Dictionary<string, CpuTensor> expected, DeviceTaps actual, string prefix)
    {
        foreach (var (name, e) in expected.Where(kv => kv.Key.StartsWith(prefix) && !Fused.Contains(kv.Key)).OrderBy(kv => kv.Key))
        {
            Assert.True(actual.Has(name), $"the engine produced no tap '{name}'");
            var a = actual.Get(name);
            var got = new CpuTensor(a.C, a.T, a.H, a.W, a.Data);
            Assert.True(got.SameShape(e), $"tap {name}: shape {got} vs reference {e}");
            yield return (name, CpuTensor.RelErr(got, e));
        }
    }

    private static CpuTensor Item(HostTensor x, int n)
    {
        long size = (long)x.C * x.T * x.H * x.W;
        return new CpuTensor(x.C, x.T, x.H, x.W, x.Data.AsSpan((int)(n * size), (int)size).ToArray());
    }
}

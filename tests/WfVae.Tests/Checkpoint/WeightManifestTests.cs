using System.Text.Json;
using System.Text.RegularExpressions;
using WfVae.Model.Checkpoint;
using Xunit;

namespace WfVae.Tests.Checkpoint;

public sealed class WeightManifestTests
{
    private sealed record KeyLine(string Name, long[] Shape, string Kind);

    private static List<KeyLine> ReadKeyList() =>
        File.ReadLines(TestPaths.GoldenKeyList)
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .Select(l => l.Split('\t'))
            .Select(p => new KeyLine(p[0], p[1].Trim('[', ']').Split(',').Select(s => long.Parse(s.Trim())).ToArray(), p[2]))
            .ToList();

    private static long HeaderNumber(string pattern)
    {
        var text = File.ReadAllText(TestPaths.GoldenKeyList);
        return long.Parse(Regex.Match(text, pattern).Groups[1].Value);
    }

    private static string KindOf(WeightSpec s) => s.Kind == WeightKind.Learned ? "param" : s.IsBuffer ? "buffer" : "fixed";

    [Fact]
    public void L_manifest_reproduces_the_official_key_list_exactly()
    {
        var expected = ReadKeyList();
        var manifest = WeightManifest.For(WfVaeConfig.WfVaeL16Chn);
        Assert.Equal(244, expected.Count);
        Assert.Equal(expected.Select(k => k.Name), manifest.Select(s => s.Name)); // names and state_dict order
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.True(expected[i].Shape.SequenceEqual(manifest[i].Shape), $"{expected[i].Name}: {ShapeText(expected[i].Shape)} vs {manifest[i].ShapeText}");
            Assert.Equal(expected[i].Kind, KindOf(manifest[i]));
        }
    }

    private static string ShapeText(long[] s) => "[" + string.Join(", ", s) + "]";

    [Fact]
    public void L_parameter_counts_match_the_key_list_header_and_the_paper()
    {
        var l = WfVaeConfig.WfVaeL16Chn;
        var manifest = WeightManifest.For(l);
        Assert.Equal(HeaderNumber(@"# (\d+) tensors"), manifest.Count);
        Assert.Equal(HeaderNumber(@"tensors, (\d+) values"), manifest.Sum(s => s.ElementCount));
        Assert.Equal(HeaderNumber(@"encoder parameters: (\d+)"), WeightManifest.TorchParameterCount(l, ModelPart.Encoder));
        Assert.Equal(HeaderNumber(@"decoder parameters: (\d+)"), WeightManifest.TorchParameterCount(l, ModelPart.Decoder));
        Assert.Equal(84_587_040 - 128, WeightManifest.LearnedParameterCount(l, ModelPart.Encoder));
        Assert.Equal(232_494_332, WeightManifest.LearnedParameterCount(l, ModelPart.Decoder));
        Assert.Equal(317_081_244, manifest.Where(s => s.Kind == WeightKind.Learned).Sum(s => s.ElementCount));
        Assert.Equal(288, manifest.Where(s => s.Kind == WeightKind.FixedFilter).Sum(s => s.ElementCount));
    }

    public static IEnumerable<object[]> DistinctGoldenModels => new[] { "tiny", "small16", "groupnorm" }.Select(c => new object[] { c });
    public static IEnumerable<object[]> AllGoldenCases => TestPaths.GoldenCases.Select(c => new object[] { c });

    [Theory]
    [MemberData(nameof(AllGoldenCases))]
    public void Manifest_matches_the_keys_and_shapes_of_every_golden_model(string caseName)
    {
        var folder = TestPaths.Golden(caseName);
        var config = WfVaeConfig.Load(Path.Combine(folder, "config.json"));
        var manifest = WeightManifest.For(config);
        using var file = SafetensorsFile.Open(CheckpointLocator.FollowLinkStub(Path.Combine(folder, "model.safetensors")));
        Assert.Equal(file.Tensors.Keys.Order(StringComparer.Ordinal), manifest.Select(s => s.Name).Order(StringComparer.Ordinal));
        foreach (var spec in manifest)
            Assert.Equal(spec.Shape, file.Tensors[spec.Name].Shape);
    }

    [Theory]
    [MemberData(nameof(AllGoldenCases))]
    public void Parameter_counts_match_case_json(string caseName)
    {
        var folder = TestPaths.Golden(caseName);
        var config = WfVaeConfig.Load(Path.Combine(folder, "config.json"));
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "case.json")));
        var p = doc.RootElement.GetProperty("parameters");
        var manifest = WeightManifest.For(config);
        Assert.Equal(p.GetProperty("encoder").GetInt64(), WeightManifest.TorchParameterCount(config, ModelPart.Encoder));
        Assert.Equal(p.GetProperty("decoder").GetInt64(), WeightManifest.TorchParameterCount(config, ModelPart.Decoder));
        Assert.Equal(p.GetProperty("state_dict_tensors").GetInt32(), manifest.Count);
        Assert.Equal(p.GetProperty("state_dict_values").GetInt64(), manifest.Sum(s => s.ElementCount));
        // The only Parameters that are not learned are the 2 x 8 encoder 3D Haar filters of 8 values.
        Assert.Equal(WeightManifest.TorchParameterCount(config, ModelPart.Encoder) - 128,
            WeightManifest.LearnedParameterCount(config, ModelPart.Encoder));
    }

    [Fact]
    public void Groupnorm_keys_have_no_norm_level()
    {
        var gn = WeightManifest.For(WfVaeConfig.Create(baseChannels: 32, encoderEnergyFlowHiddenSize: 32, decoderEnergyFlowHiddenSize: 32,
            normType: NormType.GroupNorm)).Select(s => s.Name).ToHashSet();
        Assert.Contains("encoder.down1.1.norm1.weight", gn);
        Assert.Contains("encoder.mid.1.norm.weight", gn);
        Assert.Contains("decoder.norm_out.bias", gn);
        Assert.DoesNotContain(gn, n => n.Contains(".norm.norm."));
        var ln = WeightManifest.For(WfVaeConfig.WfVaeL16Chn).Select(s => s.Name).ToHashSet();
        Assert.Contains("encoder.mid.1.norm.norm.weight", ln);
        Assert.Contains("decoder.norm_out.norm.bias", ln);
    }

    [Fact]
    public void Without_attention_the_mid_blocks_are_0_and_1()
    {
        var c = WfVaeConfig.Create(useAttention: false);
        var names = WeightManifest.For(c).Select(s => s.Name).ToList();
        Assert.DoesNotContain(names, n => n.Contains(".q.conv") || n.Contains("proj_out"));
        Assert.Contains("encoder.mid.1.conv2.conv.weight", names);
        Assert.Contains("decoder.mid.1.nin_shortcut.conv.weight", names);
        Assert.DoesNotContain(names, n => n.StartsWith("encoder.mid.2") || n.StartsWith("decoder.mid.2"));
        Assert.Equal(244 - 2 * 10, names.Count);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(3)]
    public void Connect_branches_have_r_resnet_blocks_then_the_conv2d_at_index_r(int r)
    {
        var manifest = WeightManifest.For(WfVaeConfig.Create(connectResLayerNum: r)).ToDictionary(s => s.Name);
        Assert.Equal(new long[] { 12, 128, 3, 3 }, manifest[$"decoder.connect_l1.{r}.weight"].Shape);
        Assert.Equal(new long[] { 24, 128, 3, 3 }, manifest[$"decoder.connect_l2.{r}.weight"].Shape);
        for (int i = 0; i < r; i++)
            Assert.Equal(new long[] { 128, 128, 3, 3, 3 }, manifest[$"decoder.connect_l2.{i}.conv1.conv.weight"].Shape);
        Assert.DoesNotContain(manifest.Keys, k => k.StartsWith($"decoder.connect_l1.{r + 1}."));
    }

    [Fact]
    public void Resblock_counts_move_the_sampler_indices()
    {
        var manifest = WeightManifest.For(WfVaeConfig.Create(encoderNumResBlocks: 0, decoderNumResBlocks: 3)).ToDictionary(s => s.Name);
        Assert.Equal(new long[] { 192, 192, 3, 3 }, manifest["encoder.down1.1.conv.weight"].Shape);
        Assert.Equal(new long[] { 384, 384, 3, 3, 3 }, manifest["encoder.down2.1.conv.conv.weight"].Shape);
        Assert.Equal(new long[] { 768, 768, 3, 3, 3 }, manifest["decoder.up2.3.conv.conv.weight"].Shape);
        Assert.Equal(new long[] { 896, 768, 1, 1, 1 }, manifest["decoder.up2.4.nin_shortcut.conv.weight"].Shape);
        Assert.Equal(new long[] { 384, 384, 3, 3 }, manifest["decoder.up1.3.conv.weight"].Shape);
    }

    [Fact]
    public void Fixed_filters_hold_the_spec_constants()
    {
        Assert.Equal(0.35359999537467957, (double)HaarFilters.Kappa3D);
        Assert.Equal(0x3EB50B0Fu, BitConverter.SingleToUInt32Bits(HaarFilters.Kappa3D));
        var specs = WeightManifest.For(WfVaeConfig.WfVaeL16Chn).ToDictionary(s => s.Name);
        var k = HaarFilters.Kappa3D;
        Assert.Equal(Enumerable.Repeat(k, 8), specs["encoder.wavelet_transform_in.h_conv.conv.weight"].FixedValues());
        // g: high-pass along W (last index), gh_v: along T, H and W.
        Assert.Equal(new[] { k, -k, k, -k, k, -k, k, -k }, specs["decoder.inverse_wavelet_transform_out.g"].FixedValues());
        Assert.Equal(new[] { k, -k, -k, k, -k, k, k, -k }, specs["encoder.wavelet_transform_l2.gh_v_conv.conv.weight"].FixedValues());
        Assert.Equal(new[] { k, k, k, k, -k, -k, -k, -k }, specs["decoder.inverse_wavelet_transform_l2.h_v"].FixedValues());
        // 2D: ad is the row (H) high-pass, da the column (W) high-pass.
        Assert.Equal(new[] { 0.5f, 0.5f, -0.5f, -0.5f }, specs["encoder.wavelet_transform_l1.ad"].FixedValues());
        Assert.Equal(new[] { 0.5f, -0.5f, 0.5f, -0.5f }, specs["decoder.inverse_wavelet_transform_l1.da"].FixedValues());
        Assert.Throws<InvalidOperationException>(() => specs["decoder.conv_out.weight"].FixedValues());
    }

    [Fact]
    public void Conv_fan_in_is_input_channels_times_kernel_volume()
    {
        var specs = WeightManifest.For(WfVaeConfig.WfVaeL16Chn).ToDictionary(s => s.Name);
        Assert.Equal(512 * 27, specs["encoder.mid.0.conv1.conv.weight"].FanIn);
        Assert.Equal(512 * 27, specs["encoder.mid.0.conv1.conv.bias"].FanIn);
        Assert.Equal(24 * 9, specs["encoder.down1.0.weight"].FanIn);
        Assert.Equal(768, specs["encoder.mid.1.q.conv.weight"].FanIn);
        Assert.Equal(WeightRole.NormWeight, specs["encoder.norm_out.norm.weight"].Role);
    }
}

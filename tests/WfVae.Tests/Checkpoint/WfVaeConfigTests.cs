using WfVae.Model.Checkpoint;
using Xunit;

namespace WfVae.Tests.Checkpoint;

public sealed class WfVaeConfigTests
{
    private static string TinyJson => File.ReadAllText(Path.Combine(TestPaths.Golden("tiny"), "config.json"));

    /// <summary>The tiny golden config with one key replaced (or added) by raw JSON.</summary>
    private static string TinyWith(string key, string rawValue)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(TinyJson)!.AsObject();
        node[key] = System.Text.Json.Nodes.JsonNode.Parse(rawValue);
        return node.ToJsonString();
    }

    public static IEnumerable<object[]> GoldenCases => TestPaths.GoldenCases.Select(c => new object[] { c });

    [Fact]
    public void Golden_tiny_config_is_read()
    {
        var c = WfVaeConfig.Load(Path.Combine(TestPaths.Golden("tiny"), "config.json"));
        Assert.Equal(4, c.LatentDim);
        Assert.Equal(16, c.BaseChannels);
        Assert.Equal(8, c.EncoderEnergyFlowHiddenSize);
        Assert.Equal(16, c.DecoderEnergyFlowHiddenSize);
        Assert.Equal(2, c.EncoderNumResBlocks);
        Assert.Equal(2, c.DecoderNumResBlocks);
        Assert.Equal(1, c.ConnectResLayerNum);
        Assert.True(c.UseAttention);
        Assert.Equal(NormType.LayerNorm, c.NormType);
        Assert.Equal(TemporalInterpolation.Trilinear, c.TemporalInterpolation);
        Assert.Equal(new[] { 0.18215f, 0.18215f, 0.18215f, 0.18215f }, c.Scale);
        Assert.Equal(new[] { 0f, 0f, 0f, 0f }, c.Shift);
        Assert.Equal(0.0, c.Dropout);
        Assert.Equal("Downsample", c.L1DownsampleBlock);
        Assert.Equal("InverseHaarWaveletTransform3D", c.L2UpsampleWavelet);
    }

    [Fact]
    public void Golden_variants_are_read()
    {
        var g = WfVaeConfig.Load(Path.Combine(TestPaths.Golden("groupnorm"), "config.json"));
        Assert.Equal(NormType.GroupNorm, g.NormType);
        Assert.Equal(1, g.EncoderNumResBlocks);
        var n = WfVaeConfig.Load(Path.Combine(TestPaths.Golden("nearest"), "config.json"));
        Assert.Equal(TemporalInterpolation.Nearest, n.TemporalInterpolation);
    }

    [Theory]
    [MemberData(nameof(GoldenCases))]
    public void ToJson_reproduces_the_official_file_byte_for_byte(string caseName)
    {
        var path = Path.Combine(TestPaths.Golden(caseName), "config.json");
        var text = File.ReadAllText(path);
        Assert.Equal(text, WfVaeConfig.Parse(text, path).ToJson());
    }

    [Fact]
    public void L_config_has_the_released_values_and_round_trips()
    {
        var l = WfVaeConfig.WfVaeL16Chn;
        Assert.Equal((192, 16, 128, 128, 2, 2, 1), (l.BaseChannels, l.LatentDim, l.EncoderEnergyFlowHiddenSize,
            l.DecoderEnergyFlowHiddenSize, l.EncoderNumResBlocks, l.DecoderNumResBlocks, l.ConnectResLayerNum));
        Assert.Equal(NormType.LayerNorm, l.NormType);
        Assert.Equal(TemporalInterpolation.Trilinear, l.TemporalInterpolation);
        Assert.True(l.UseAttention);
        Assert.Equal(Enumerable.Repeat(0.18215f, 4), l.Scale);
        Assert.Equal(new float[4], l.Shift);
        Assert.Equal(l, WfVaeConfig.Parse(l.ToJson(), "L"));
        Assert.Equal(l, WfVaeConfig.Create());
    }

    [Fact]
    public void Missing_keys_take_the_constructor_defaults_not_the_L_values()
    {
        var c = WfVaeConfig.Parse("{}", "empty");
        Assert.Equal(8, c.LatentDim);
        Assert.Equal(128, c.BaseChannels);
        Assert.Equal(2, c.EncoderNumResBlocks);
        Assert.Equal(64, c.EncoderEnergyFlowHiddenSize);
        Assert.Equal(2, c.DecoderNumResBlocks);
        Assert.Equal(128, c.DecoderEnergyFlowHiddenSize);
        Assert.Equal(1, c.ConnectResLayerNum);
        Assert.True(c.UseAttention);
        Assert.Equal("AttnBlock3DFix", c.AttentionType);
        Assert.Equal(0.0, c.Dropout);
        Assert.Equal(NormType.GroupNorm, c.NormType);
        Assert.Equal(TemporalInterpolation.Nearest, c.TemporalInterpolation);
        Assert.Equal("Spatial2xTime2x3DDownsample", c.L2DownsampleBlock);
        Assert.Equal(new WfVaeConfig(), c);

        var partial = WfVaeConfig.Parse("""{"latent_dim": 16, "norm_type": "layernorm"}""", "partial");
        Assert.Equal(16, partial.LatentDim);
        Assert.Equal(NormType.LayerNorm, partial.NormType);
        Assert.Equal(128, partial.BaseChannels);
        Assert.Equal(TemporalInterpolation.Nearest, partial.TemporalInterpolation);
    }

    [Theory]
    [InlineData("_class_name", "\"AutoencoderKL\"", "AutoencoderKL")]
    [InlineData("attention_type", "\"AttnBlock3D\"", "AttnBlock3D")]
    [InlineData("norm_type", "\"batchnorm\"", "batchnorm")]
    [InlineData("norm_type", "\"LayerNorm\"", "LayerNorm")]
    [InlineData("t_interpolation", "\"bicubic\"", "bicubic")]
    [InlineData("l1_dowmsample_block", "\"Spatial2x3DDownsample\"", "Spatial2x3DDownsample")]
    [InlineData("l1_downsample_wavelet", "\"HaarWaveletTransform1D\"", "HaarWaveletTransform1D")]
    [InlineData("l1_upsample_block", "\"Spatial2xTime2x3DUpsampleX\"", "Spatial2xTime2x3DUpsampleX")]
    [InlineData("l1_upsample_wavelet", "\"InverseHaarWaveletTransform1D\"", "InverseHaarWaveletTransform1D")]
    [InlineData("l2_dowmsample_block", "\"TimeDownsampleRes2x\"", "TimeDownsampleRes2x")]
    [InlineData("l2_downsample_wavelet", "\"HaarWaveletTransform2D\"", "HaarWaveletTransform2D")]
    [InlineData("l2_upsample_block", "\"Upsample\"", "Upsample")]
    [InlineData("l2_upsample_wavelet", "\"InverseHaarWaveletTransform2D\"", "InverseHaarWaveletTransform2D")]
    [InlineData("latent_dim", "0", "0")]
    [InlineData("base_channels", "-16", "-16")]
    [InlineData("encoder_energy_flow_hidden_size", "0", "0")]
    [InlineData("decoder_energy_flow_hidden_size", "-1", "-1")]
    [InlineData("decoder_num_resblocks", "0", "0")]
    [InlineData("encoder_num_resblocks", "-1", "-1")]
    [InlineData("connect_res_layer_num", "-2", "-2")]
    [InlineData("latent_dim", "\"16\"", "16")]
    [InlineData("latent_dim", "16.5", "16.5")]
    [InlineData("use_attention", "\"yes\"", "yes")]
    [InlineData("scale", "0.18215", "0.18215")]
    [InlineData("dropout", "\"none\"", "none")]
    [InlineData("some_new_option", "123", "123")]
    public void Unsupported_values_are_refused_naming_key_and_value(string key, string rawValue, string shownValue)
    {
        var e = Assert.Throws<ConfigException>(() => WfVaeConfig.Parse(TinyWith(key, rawValue), "case.json"));
        Assert.Contains(key, e.Message);
        Assert.Contains(shownValue, e.Message);
        Assert.Contains("case.json", e.Message);
    }

    [Theory]
    [InlineData("l1_dowmsample_block", "Spatial2xTime2x3DDownsample")]
    [InlineData("l1_downsample_wavelet", "HaarWaveletTransform3D")]
    [InlineData("l1_upsample_block", "Spatial2xTime2x3DUpsample")]
    [InlineData("l1_upsample_wavelet", "InverseHaarWaveletTransform3D")]
    public void The_8x_temporal_variant_is_refused_as_not_supported(string key, string value)
    {
        var e = Assert.Throws<ConfigException>(() => WfVaeConfig.Parse(TinyWith(key, $"\"{value}\""), "8x"));
        Assert.Contains(key, e.Message);
        Assert.Contains(value, e.Message);
        Assert.Contains("8x", e.Message);
        Assert.Contains("not supported", e.Message);
    }

    [Theory]
    [InlineData(16, 8, 16, "16")]   // B itself
    [InlineData(32, 8, 32, "72")]   // 2B + Ee
    [InlineData(32, 32, 16, "144")] // 4B + Ed
    public void Groupnorm_needs_widths_that_are_multiples_of_32(int b, int ee, int ed, string width)
    {
        var json = TinyWith("norm_type", "\"groupnorm\"");
        json = WithInts(json, ("base_channels", b), ("encoder_energy_flow_hidden_size", ee), ("decoder_energy_flow_hidden_size", ed));
        var e = Assert.Throws<ConfigException>(() => WfVaeConfig.Parse(json, "gn"));
        Assert.Contains("groupnorm", e.Message);
        Assert.Contains($"width {width}", e.Message);
    }

    [Fact]
    public void Attention_wider_than_the_shader_supports_is_refused_at_parse_not_at_the_first_encode()
    {
        int widest = WfVae.Operators.Attention.MaxChannels / 4;
        var e = Assert.Throws<ConfigException>(() => WfVaeConfig.Parse(WithInts(TinyJson, ("base_channels", widest + 1)), "wide"));
        Assert.Contains("base_channels", e.Message);
        Assert.Contains($"{widest + 1}", e.Message);
        Assert.Contains("use_attention", e.Message);
        Assert.Equal(widest, WfVaeConfig.Parse(WithInts(TinyJson, ("base_channels", widest)), "ok").BaseChannels);
        // Without the attention block nothing else bounds the width this way.
        Assert.Equal(widest + 1, WfVaeConfig.Create(baseChannels: widest + 1, useAttention: false).BaseChannels);
    }

    private static string WithInts(string json, params (string Key, int Value)[] values)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(json)!.AsObject();
        foreach (var (k, v) in values) node[k] = v;
        return node.ToJsonString();
    }

    [Fact]
    public void Underscore_keys_are_ignored_other_unknown_keys_refused()
    {
        var c = WfVaeConfig.Parse(TinyWith("_name_or_path", "\"/some/where\""), "x");
        Assert.Equal(16, c.BaseChannels);
        var e = Assert.Throws<ConfigException>(() => WfVaeConfig.Parse(TinyWith("use_tiling", "true"), "x"));
        Assert.Contains("use_tiling", e.Message);
    }

    [Theory]
    [InlineData("{\"latent_dim\": 4,}")]
    [InlineData("[1, 2]")]
    [InlineData("")]
    [InlineData("{\"latent_dim\": 4, \"latent_dim\": 8}")]
    public void Malformed_documents_are_refused(string json)
    {
        var e = Assert.Throws<ConfigException>(() => WfVaeConfig.Parse(json, "bad.json"));
        Assert.Contains("bad.json", e.Message);
    }

    [Fact]
    public void Configs_built_in_code_are_validated_where_used()
    {
        var c = WfVaeConfig.Create(baseChannels: 8, latentDim: 4, encoderEnergyFlowHiddenSize: 8, decoderEnergyFlowHiddenSize: 8,
            normType: NormType.LayerNorm, useAttention: false);
        Assert.Equal(8, c.BaseChannels);
        Assert.False(c.UseAttention);
        Assert.Throws<ConfigException>(() => WfVaeConfig.Create(decoderNumResBlocks: 0));
        Assert.Throws<ConfigException>(() => WfVaeConfig.Create(baseChannels: 16, normType: NormType.GroupNorm));

        var invalid = c with { AttentionType = "AttnBlock3D", UseAttention = true };
        var e = Assert.Throws<ConfigException>(() => WeightManifest.For(invalid));
        Assert.Contains("AttnBlock3D", e.Message);
        // Without attention the key is never read (the official model ignores it too).
        Assert.Equal(WeightManifest.For(c).Count, WeightManifest.For(c with { AttentionType = "AttnBlock3D" }).Count);
    }

    [Fact]
    public void Configs_are_immutable_and_compare_by_value()
    {
        var a = WfVaeConfig.Parse(TinyJson, "a");
        var b = WfVaeConfig.Parse(TinyJson, "b");
        Assert.Equal(a, b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        a.Scale[0] = 99f;
        Assert.Equal(0.18215f, a.Scale[0]);
        Assert.NotEqual(a, a with { Shift = [1f, 0f, 0f, 0f] });
        Assert.NotEqual(a, a with { LatentDim = 5 });
    }
}

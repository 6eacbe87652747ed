using System.Text.Json;

namespace WfVae.Tests.Reference;

/// <summary>
/// The configuration keys the reference model needs (docs/model.md#configuration), parsed from a WF-VAE config.json.
/// Missing keys take the official constructor defaults.
/// </summary>
public sealed record ReferenceConfig(
    int BaseChannels,
    int LatentDim,
    int EncoderEnergyFlowHiddenSize,
    int DecoderEnergyFlowHiddenSize,
    int EncoderNumResblocks,
    int DecoderNumResblocks,
    int ConnectResLayerNum,
    bool UseAttention,
    NormType NormType,
    TemporalInterpolation TInterpolation)
{
    public static ReferenceConfig Parse(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var r = doc.RootElement;
        int Int(string k, int d) => r.TryGetProperty(k, out var v) ? v.GetInt32() : d;
        string Str(string k, string d) => r.TryGetProperty(k, out var v) ? v.GetString() ?? d : d;
        bool Bool(string k, bool d) => r.TryGetProperty(k, out var v) ? v.GetBoolean() : d;

        void Require(string key, string expected, string d)
        {
            var v = Str(key, d);
            if (v != expected) throw new NotSupportedException($"config {key} = {v}: the reference supports only {expected}");
        }
        Require("_class_name", "WFVAEModel", "WFVAEModel");
        Require("attention_type", "AttnBlock3DFix", "AttnBlock3DFix");
        Require("l1_dowmsample_block", "Downsample", "Downsample");
        Require("l1_downsample_wavelet", "HaarWaveletTransform2D", "HaarWaveletTransform2D");
        Require("l2_dowmsample_block", "Spatial2xTime2x3DDownsample", "Spatial2xTime2x3DDownsample");
        Require("l2_downsample_wavelet", "HaarWaveletTransform3D", "HaarWaveletTransform3D");
        Require("l1_upsample_block", "Upsample", "Upsample");
        Require("l1_upsample_wavelet", "InverseHaarWaveletTransform2D", "InverseHaarWaveletTransform2D");
        Require("l2_upsample_block", "Spatial2xTime2x3DUpsample", "Spatial2xTime2x3DUpsample");
        Require("l2_upsample_wavelet", "InverseHaarWaveletTransform3D", "InverseHaarWaveletTransform3D");

        var norm = Str("norm_type", "groupnorm") switch
        {
            "layernorm" => NormType.LayerNorm,
            "groupnorm" => NormType.GroupNorm,
            var s => throw new NotSupportedException($"norm_type {s}"),
        };
        var interp = Str("t_interpolation", "nearest") switch
        {
            "trilinear" => TemporalInterpolation.Trilinear,
            "nearest" => TemporalInterpolation.Nearest,
            var s => throw new NotSupportedException($"t_interpolation {s}"),
        };
        return new ReferenceConfig(
            BaseChannels: Int("base_channels", 128),
            LatentDim: Int("latent_dim", 8),
            EncoderEnergyFlowHiddenSize: Int("encoder_energy_flow_hidden_size", 64),
            DecoderEnergyFlowHiddenSize: Int("decoder_energy_flow_hidden_size", 128),
            EncoderNumResblocks: Int("encoder_num_resblocks", 2),
            DecoderNumResblocks: Int("decoder_num_resblocks", 2),
            ConnectResLayerNum: Int("connect_res_layer_num", 1),
            UseAttention: Bool("use_attention", true),
            NormType: norm,
            TInterpolation: interp);
    }
}

/// <summary>
/// WF-VAE encoder and decoder (docs/model.md#encoder, docs/model.md#decoder) composed from <see cref="CpuOps"/>, reading weights
/// by their official state-dict key names (docs/model.md#checkpoint). Every module output is recorded under the golden
/// tap names (golden README). Block methods are public so single blocks can be checked in isolation.
/// </summary>
public sealed class CpuReferenceModel
{
    public ReferenceConfig Config { get; }
    private readonly Func<string, float[]> _weights;

    public CpuReferenceModel(ReferenceConfig config, Func<string, float[]> weights)
    {
        Config = config;
        _weights = weights;
    }

    private int B => Config.BaseChannels;
    private int L => Config.LatentDim;
    private int Ee => Config.EncoderEnergyFlowHiddenSize;
    private int Ed => Config.DecoderEnergyFlowHiddenSize;

    /// <summary>A weight by key, checked against the expected element count.</summary>
    public float[] Weight(string key, long expectedLength)
    {
        var w = _weights(key) ?? throw new KeyNotFoundException(key);
        if (w.Length != expectedLength) throw new InvalidDataException($"{key}: {w.Length} values, expected {expectedLength}");
        return w;
    }

    // ------------------------------------------------------------------ layers and blocks

    /// <summary>Normalize(C) at module path <paramref name="p"/> (LayerNorm: p.norm.weight; GroupNorm: p.weight).</summary>
    public CpuTensor Normalize(CpuTensor x, string p, bool perFrame = false)
    {
        string k = Config.NormType == NormType.LayerNorm ? p + ".norm" : p;
        return CpuOps.Normalize(x, Weight(k + ".weight", x.C), Weight(k + ".bias", x.C), Config.NormType, perFrame);
    }

    /// <summary>Conv2d wrapper (per frame), keys p.weight [co, ci, k, k], p.bias.</summary>
    public CpuTensor Conv2dLayer(CpuTensor x, string p, int cout, int k = 3)
        => CpuOps.Conv2d(x, Weight(p + ".weight", (long)cout * x.C * k * k), Weight(p + ".bias", cout), cout, k);

    /// <summary>CausalConv3d wrapper, keys p.conv.weight [co, ci, k, k, k], p.conv.bias.</summary>
    public CpuTensor CausalConv3dLayer(CpuTensor x, string p, int cout, int k = 3)
        => CpuOps.CausalConv3d(x, Weight(p + ".conv.weight", (long)cout * x.C * k * k * k),
            Weight(p + ".conv.bias", cout), cout, k);

    /// <summary>ResnetBlock3D(ci → co) (docs/model.md#residual-blocks); GroupNorm pools over the whole clip.</summary>
    public CpuTensor ResnetBlock3D(CpuTensor x, string p, int cout)
    {
        var h = CpuOps.Silu(Normalize(x, p + ".norm1"));
        h = CausalConv3dLayer(h, p + ".conv1", cout);
        h = CpuOps.Silu(Normalize(h, p + ".norm2"));
        h = CausalConv3dLayer(h, p + ".conv2", cout);
        var s = x.C == cout ? x : CausalConv3dLayer(x, p + ".nin_shortcut", cout, 1);
        return CpuOps.Add(s, h);
    }

    /// <summary>ResnetBlock2D(ci → co) (docs/model.md#residual-blocks), per frame; GroupNorm statistics per frame.</summary>
    public CpuTensor ResnetBlock2D(CpuTensor x, string p, int cout)
    {
        var h = CpuOps.Silu(Normalize(x, p + ".norm1", perFrame: true));
        h = Conv2dLayer(h, p + ".conv1", cout);
        h = CpuOps.Silu(Normalize(h, p + ".norm2", perFrame: true));
        h = Conv2dLayer(h, p + ".conv2", cout);
        var s = x.C == cout ? x : Conv2dLayer(x, p + ".nin_shortcut", cout, 1);
        return CpuOps.Add(s, h);
    }

    /// <summary>AttnBlock3DFix(C) (docs/model.md#attention).</summary>
    public CpuTensor AttnBlock(CpuTensor x, string p)
    {
        int C = x.C;
        string nk = Config.NormType == NormType.LayerNorm ? p + ".norm.norm" : p + ".norm";
        float[] W(string n) => Weight($"{p}.{n}.conv.weight", (long)C * C);
        float[] Bv(string n) => Weight($"{p}.{n}.conv.bias", C);
        return CpuOps.Attention(x, Weight(nk + ".weight", C), Weight(nk + ".bias", C),
            W("q"), Bv("q"), W("k"), Bv("k"), W("v"), Bv("v"), W("proj_out"), Bv("proj_out"), Config.NormType);
    }

    /// <summary>Downsample (docs/model.md#downsampling), keys p.conv.weight [C, C, 3, 3].</summary>
    public CpuTensor DownsampleBlock(CpuTensor x, string p)
        => CpuOps.Downsample2d(x, Weight(p + ".conv.weight", (long)x.C * x.C * 9), Weight(p + ".conv.bias", x.C), x.C);

    /// <summary>Spatial2xTime2x3DDownsample (docs/model.md#downsampling), keys p.conv.conv.weight [C, C, 3, 3, 3].</summary>
    public CpuTensor S2T2DownsampleBlock(CpuTensor x, string p)
        => CpuOps.S2T2Downsample3d(x, Weight(p + ".conv.conv.weight", (long)x.C * x.C * 27),
            Weight(p + ".conv.conv.bias", x.C), x.C);

    /// <summary>Upsample (docs/model.md#upsampling, decoder up1): nearest 2× per frame, then Conv2d 3×3 (p.conv).</summary>
    public CpuTensor UpsampleBlock(CpuTensor x, string p)
        => Conv2dLayer(CpuOps.NearestUpsample2x(x), p + ".conv", x.C);

    /// <summary>Spatial2xTime2x3DUpsample (docs/model.md#upsampling, decoder up2): temporal 2×, bilinear 2×, causal conv (p.conv).</summary>
    public CpuTensor S2T2UpsampleBlock(CpuTensor x, string p)
    {
        var u = CpuOps.BilinearUpsample2x(CpuOps.TemporalUpsample2x(x, Config.TInterpolation));
        return CausalConv3dLayer(u, p + ".conv", x.C);
    }

    // ------------------------------------------------------------------ encoder (docs/model.md#encoder)

    public (CpuTensor Mean, CpuTensor Logvar, Dictionary<string, CpuTensor> Taps) Encode(CpuTensor video)
    {
        if (video.C != 3) throw new ArgumentException($"video must have 3 channels, got {video.C}");
        var taps = new Dictionary<string, CpuTensor>();
        CpuTensor Tap(string name, CpuTensor t) { taps[name] = t; return t; }
        int ne = Config.EncoderNumResblocks;

        var w1 = Tap("enc.wavelet_transform_in", CpuOps.Haar3D(video));
        var w2 = Tap("enc.wavelet_transform_l1", CpuOps.Haar2D(w1.SliceChannels(0, 3)));
        var f1 = Tap("enc.connect_l1", Conv2dLayer(w2, "encoder.connect_l1", Ee));
        var w3 = Tap("enc.wavelet_transform_l2", CpuOps.Haar3D(w2.SliceChannels(0, 3)));
        var f2 = Tap("enc.connect_l2", Conv2dLayer(w3, "encoder.connect_l2", Ee));

        var h = Tap("enc.down1.0", Conv2dLayer(w1, "encoder.down1.0", B));
        for (int i = 1; i <= ne; i++) h = Tap($"enc.down1.{i}", ResnetBlock2D(h, $"encoder.down1.{i}", B));
        h = Tap("enc.down1", DownsampleBlock(h, $"encoder.down1.{ne + 1}"));

        h = Tap("enc.down2.0", Conv2dLayer(CpuTensor.ConcatChannels(h, f1), "encoder.down2.0", 2 * B));
        for (int i = 1; i <= ne; i++) h = Tap($"enc.down2.{i}", ResnetBlock3D(h, $"encoder.down2.{i}", 2 * B));
        h = Tap("enc.down2", S2T2DownsampleBlock(h, $"encoder.down2.{ne + 1}"));

        h = CpuTensor.ConcatChannels(h, f2);
        h = Tap("enc.mid.0", ResnetBlock3D(h, "encoder.mid.0", 4 * B));
        int last = 1;
        if (Config.UseAttention) { h = Tap("enc.mid.1", AttnBlock(h, "encoder.mid.1")); last = 2; }
        h = Tap("enc.mid", ResnetBlock3D(h, $"encoder.mid.{last}", 4 * B));

        h = Tap("enc.norm_out", Normalize(h, "encoder.norm_out"));
        h = Tap("enc.norm_out_silu", CpuOps.Silu(h));
        var moments = Tap("enc.h", CausalConv3dLayer(h, "encoder.conv_out", 2 * L));
        var (mean, logvar) = CpuOps.Posterior(moments, L);
        taps["mean"] = mean;
        taps["logvar"] = logvar;
        return (mean, logvar, taps);
    }

    // ------------------------------------------------------------------ decoder (docs/model.md#decoder)

    public (CpuTensor Decoded, Dictionary<string, CpuTensor> Taps) Decode(CpuTensor z)
    {
        if (z.C != L) throw new ArgumentException($"latent must have {L} channels, got {z.C}");
        var taps = new Dictionary<string, CpuTensor>();
        CpuTensor Tap(string name, CpuTensor t) { taps[name] = t; return t; }
        int nd = Config.DecoderNumResblocks, r = Config.ConnectResLayerNum;

        var h = Tap("dec.conv_in", CausalConv3dLayer(z, "decoder.conv_in", 4 * B));
        h = Tap("dec.mid.0", ResnetBlock3D(h, "decoder.mid.0", 4 * B));
        int last = 1;
        if (Config.UseAttention) { h = Tap("dec.mid.1", AttnBlock(h, "decoder.mid.1")); last = 2; }
        h = Tap("dec.mid", ResnetBlock3D(h, $"decoder.mid.{last}", 4 * B + Ed));

        // outflow branch, level 3
        var e = h.SliceChannels(4 * B, Ed);
        for (int i = 0; i < r; i++) e = Tap($"dec.connect_l2.{i}", ResnetBlock3D(e, $"decoder.connect_l2.{i}", Ed));
        var hatW3 = Tap("dec.connect_l2", Conv2dLayer(e, $"decoder.connect_l2.{r}", 24));
        var l2 = Tap("dec.inverse_wavelet_transform_l2", CpuOps.InverseHaar3D(hatW3));

        // backbone, level 3 → 2
        var a = h.SliceChannels(0, 4 * B);
        for (int i = 0; i < nd; i++) a = Tap($"dec.up2.{i}", ResnetBlock3D(a, $"decoder.up2.{i}", 4 * B));
        a = Tap($"dec.up2.{nd}", S2T2UpsampleBlock(a, $"decoder.up2.{nd}"));
        var g = Tap("dec.up2", ResnetBlock3D(a, $"decoder.up2.{nd + 1}", 4 * B + Ed));

        // outflow branch, level 2
        e = g.SliceChannels(4 * B, Ed);
        for (int i = 0; i < r; i++) e = Tap($"dec.connect_l1.{i}", ResnetBlock3D(e, $"decoder.connect_l1.{i}", Ed));
        var hatW2 = Tap("dec.connect_l1", Conv2dLayer(e, $"decoder.connect_l1.{r}", 12));
        hatW2 = Tap("dec.connect_l1_plus_l2", AddIntoFirstChannels(hatW2, l2));
        var l1 = Tap("dec.inverse_wavelet_transform_l1", CpuOps.InverseHaar2D(hatW2));

        // backbone, level 2 → 1
        a = g.SliceChannels(0, 4 * B);
        a = Tap("dec.up1.0", ResnetBlock3D(a, "decoder.up1.0", 2 * B));
        for (int i = 1; i < nd; i++) a = Tap($"dec.up1.{i}", ResnetBlock3D(a, $"decoder.up1.{i}", 2 * B));
        a = Tap($"dec.up1.{nd}", UpsampleBlock(a, $"decoder.up1.{nd}"));
        a = Tap("dec.up1", ResnetBlock3D(a, $"decoder.up1.{nd + 1}", 2 * B));
        a = Tap("dec.layer.0", ResnetBlock3D(a, "decoder.layer.0", B));
        a = Tap("dec.layer", ResnetBlock3D(a, "decoder.layer.1", B));

        a = Tap("dec.norm_out", Normalize(a, "decoder.norm_out"));
        a = Tap("dec.norm_out_silu", CpuOps.Silu(a));
        var hatW1 = Tap("dec.conv_out", Conv2dLayer(a, "decoder.conv_out", 24));
        hatW1 = Tap("dec.conv_out_plus_l1", AddIntoFirstChannels(hatW1, l1));
        var decoded = Tap("decoded", CpuOps.InverseHaar3D(hatW1));
        return (decoded, taps);
    }

    /// <summary>Copy of <paramref name="x"/> with channels 0 … add.C−1 increased by <paramref name="add"/>.</summary>
    public static CpuTensor AddIntoFirstChannels(CpuTensor x, CpuTensor add)
    {
        var head = CpuOps.Add(x.SliceChannels(0, add.C), add);
        return CpuTensor.ConcatChannels(head, x.SliceChannels(add.C, x.C - add.C));
    }
}

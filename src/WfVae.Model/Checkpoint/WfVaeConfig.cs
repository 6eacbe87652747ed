using System.Globalization;

namespace WfVae.Model.Checkpoint;

public enum NormType { LayerNorm, GroupNorm }

public enum TemporalInterpolation { Trilinear, Nearest }

/// <summary>
/// The constructor arguments of the official WFVAEModel (config.json). Immutable; build variants with
/// <c>with</c> or <see cref="Create"/>. <c>new WfVaeConfig()</c> holds the official constructor
/// defaults, i.e. what a config.json lacking every key means, which is NOT the released L model
/// (see <see cref="WfVaeL16Chn"/>). Values set in code are checked by <see cref="Validate"/>, which
/// every consumer (manifest, loader, generator) calls.
/// </summary>
public sealed partial record WfVaeConfig
{
    public const string ClassName = "WFVAEModel";
    public const string SupportedAttentionType = "AttnBlock3DFix";
    public const string DownsampleBlock = "Downsample";
    public const string Downsample3DBlock = "Spatial2xTime2x3DDownsample";
    public const string UpsampleBlock = "Upsample";
    public const string Upsample3DBlock = "Spatial2xTime2x3DUpsample";
    public const string Haar2D = "HaarWaveletTransform2D";
    public const string Haar3D = "HaarWaveletTransform3D";
    public const string InverseHaar2D = "InverseHaarWaveletTransform2D";
    public const string InverseHaar3D = "InverseHaarWaveletTransform3D";

    /// <summary>GroupNorm of the official Normalize always uses 32 groups.</summary>
    public const int GroupNormGroups = 32;

    /// <summary>Largest channel width and block count a config may ask for (published models: 128-wide, 2-3 blocks).</summary>
    public const int MaxChannels = 4096, MaxBlocks = 64;

    private float[] _scale = [0.18215f, 0.18215f, 0.18215f, 0.18215f];
    private float[] _shift = [0f, 0f, 0f, 0f];

    public int LatentDim { get; init; } = 8;
    public int BaseChannels { get; init; } = 128;
    public int EncoderNumResBlocks { get; init; } = 2;
    public int DecoderNumResBlocks { get; init; } = 2;
    public int EncoderEnergyFlowHiddenSize { get; init; } = 64;
    public int DecoderEnergyFlowHiddenSize { get; init; } = 128;
    public int ConnectResLayerNum { get; init; } = 1;
    public bool UseAttention { get; init; } = true;
    public string AttentionType { get; init; } = SupportedAttentionType;
    public NormType NormType { get; init; } = NormType.GroupNorm;
    public TemporalInterpolation TemporalInterpolation { get; init; } = TemporalInterpolation.Nearest;

    /// <summary>Training only; kept so that <see cref="ToJson"/> round-trips.</summary>
    public double Dropout { get; init; }

    /// <summary>Latent scale for a downstream diffusion model. Never applied by encode/decode. Returns a copy.</summary>
    public float[] Scale
    {
        get => (float[])_scale.Clone();
        init => _scale = (float[])(value ?? throw new ArgumentNullException(nameof(Scale))).Clone();
    }

    /// <summary>Latent shift for a downstream diffusion model. Never applied by encode/decode. Returns a copy.</summary>
    public float[] Shift
    {
        get => (float[])_shift.Clone();
        init => _shift = (float[])(value ?? throw new ArgumentNullException(nameof(Shift))).Clone();
    }

    /// <summary>Config key <c>l1_dowmsample_block</c> (the official spelling has the typo).</summary>
    public string L1DownsampleBlock { get; init; } = DownsampleBlock;
    public string L1DownsampleWavelet { get; init; } = Haar2D;
    /// <summary>Config key <c>l2_dowmsample_block</c> (sic).</summary>
    public string L2DownsampleBlock { get; init; } = Downsample3DBlock;
    public string L2DownsampleWavelet { get; init; } = Haar3D;
    public string L1UpsampleBlock { get; init; } = UpsampleBlock;
    public string L1UpsampleWavelet { get; init; } = InverseHaar2D;
    public string L2UpsampleBlock { get; init; } = Upsample3DBlock;
    public string L2UpsampleWavelet { get; init; } = InverseHaar3D;

    /// <summary>Writer metadata of diffusers; carried through unchanged.</summary>
    public string DiffusersVersion { get; init; } = "0.30.2";

    /// <summary>The released WF-VAE-L-16Chn configuration (examples/wfvae-large-16chn.json).</summary>
    public static WfVaeConfig WfVaeL16Chn { get; } = new()
    {
        LatentDim = 16,
        BaseChannels = 192,
        EncoderNumResBlocks = 2,
        DecoderNumResBlocks = 2,
        EncoderEnergyFlowHiddenSize = 128,
        DecoderEnergyFlowHiddenSize = 128,
        ConnectResLayerNum = 1,
        UseAttention = true,
        NormType = NormType.LayerNorm,
        TemporalInterpolation = TemporalInterpolation.Trilinear,
    };

    /// <summary>
    /// A validated config built in code. Every omitted argument takes the WF-VAE-L-16Chn value
    /// (unlike <c>new WfVaeConfig()</c>, whose defaults are the official constructor's).
    /// </summary>
    public static WfVaeConfig Create(
        int baseChannels = 192,
        int latentDim = 16,
        int encoderEnergyFlowHiddenSize = 128,
        int decoderEnergyFlowHiddenSize = 128,
        int encoderNumResBlocks = 2,
        int decoderNumResBlocks = 2,
        int connectResLayerNum = 1,
        bool useAttention = true,
        NormType normType = NormType.LayerNorm,
        TemporalInterpolation temporalInterpolation = TemporalInterpolation.Trilinear)
    {
        var config = WfVaeL16Chn with
        {
            BaseChannels = baseChannels,
            LatentDim = latentDim,
            EncoderEnergyFlowHiddenSize = encoderEnergyFlowHiddenSize,
            DecoderEnergyFlowHiddenSize = decoderEnergyFlowHiddenSize,
            EncoderNumResBlocks = encoderNumResBlocks,
            DecoderNumResBlocks = decoderNumResBlocks,
            ConnectResLayerNum = connectResLayerNum,
            UseAttention = useAttention,
            NormType = normType,
            TemporalInterpolation = temporalInterpolation,
        };
        config.Validate();
        return config;
    }

    /// <summary>
    /// Every channel width a Normalize layer sees, with how it arises. GroupNorm needs each to be a
    /// multiple of 32, and naming the formula tells the user which setting to change.
    /// </summary>
    public IEnumerable<(string Formula, int Width)> NormalizedWidths()
    {
        int b = BaseChannels, ee = EncoderEnergyFlowHiddenSize, ed = DecoderEnergyFlowHiddenSize;
        yield return ("base_channels", b);
        yield return ("2*base_channels", 2 * b);
        yield return ("2*base_channels+encoder_energy_flow_hidden_size", 2 * b + ee);
        yield return ("4*base_channels", 4 * b);
        yield return ("4*base_channels+decoder_energy_flow_hidden_size", 4 * b + ed);
        if (ConnectResLayerNum > 0)
            yield return ("decoder_energy_flow_hidden_size", ed);
    }

    /// <summary>Throws <see cref="ConfigException"/> naming the key and value of the first unsupported setting.</summary>
    public void Validate(string? sourceName = null)
    {
        var src = sourceName ?? "<in-code config>";

        // Upper bounds far above any published model: a hostile config must not make the key manifest
        // (or anything sized by it) exhaust memory before the weights file can contradict it.
        RequireRange(src, "latent_dim", LatentDim, 1, MaxChannels);
        RequireRange(src, "base_channels", BaseChannels, 1, MaxChannels);
        RequireRange(src, "encoder_energy_flow_hidden_size", EncoderEnergyFlowHiddenSize, 1, MaxChannels);
        RequireRange(src, "decoder_energy_flow_hidden_size", DecoderEnergyFlowHiddenSize, 1, MaxChannels);
        RequireRange(src, "encoder_num_resblocks", EncoderNumResBlocks, 0, MaxBlocks);
        // With 0 the official up1 starts with an Upsample on 4B channels followed by a 2B block: it cannot run.
        RequireRange(src, "decoder_num_resblocks", DecoderNumResBlocks, 1, MaxBlocks);
        RequireRange(src, "connect_res_layer_num", ConnectResLayerNum, 0, MaxBlocks);

        // The attention shader keeps a query's accumulators in registers, which bounds its width; refusing here names the
        // setting before gigabytes of weights load only for the first encode to fail.
        if (UseAttention && 4L * BaseChannels > WfVae.Operators.Attention.MaxChannels)
            throw new ConfigException(
                $"Config '{src}': key 'base_channels' has unsupported value {BaseChannels.ToString(CultureInfo.InvariantCulture)} with use_attention true: " +
                $"the attention block is 4*base_channels = {4 * BaseChannels} channels wide, this engine supports at most " +
                $"{WfVae.Operators.Attention.MaxChannels} (base_channels <= {WfVae.Operators.Attention.MaxChannels / 4}).");
        // Without attention the official model never reads the key, whatever it names.
        if (UseAttention && AttentionType != SupportedAttentionType)
            throw Unsupported(src, "attention_type", AttentionType,
                "only AttnBlock3DFix is supported (the legacy AttnBlock3D mixes frames through a wrong reshape)");
        if (!Enum.IsDefined(NormType))
            throw Unsupported(src, "norm_type", NormType.ToString(), "use layernorm or groupnorm");
        if (!Enum.IsDefined(TemporalInterpolation))
            throw Unsupported(src, "t_interpolation", TemporalInterpolation.ToString(), "use trilinear or nearest");

        RequireLevel1(src, "l1_dowmsample_block", L1DownsampleBlock, DownsampleBlock, Downsample3DBlock);
        RequireLevel1(src, "l1_downsample_wavelet", L1DownsampleWavelet, Haar2D, Haar3D);
        RequireLevel1(src, "l1_upsample_block", L1UpsampleBlock, UpsampleBlock, Upsample3DBlock);
        RequireLevel1(src, "l1_upsample_wavelet", L1UpsampleWavelet, InverseHaar2D, InverseHaar3D);
        RequireExactly(src, "l2_dowmsample_block", L2DownsampleBlock, Downsample3DBlock);
        RequireExactly(src, "l2_downsample_wavelet", L2DownsampleWavelet, Haar3D);
        RequireExactly(src, "l2_upsample_block", L2UpsampleBlock, Upsample3DBlock);
        RequireExactly(src, "l2_upsample_wavelet", L2UpsampleWavelet, InverseHaar3D);

        if (NormType == NormType.GroupNorm)
        {
            foreach (var (formula, width) in NormalizedWidths())
            {
                if (width % GroupNormGroups != 0)
                    throw new ConfigException(
                        $"Config '{src}': norm_type 'groupnorm' needs every normalised width to be a multiple of {GroupNormGroups}, " +
                        $"but width {width} ({formula}) is not.");
            }
        }
    }

    private static void RequireRange(string src, string key, int value, int minimum, int maximum)
    {
        if (value < minimum)
            throw new ConfigException($"Config '{src}': key '{key}' has unsupported value {value.ToString(CultureInfo.InvariantCulture)}: it must be at least {minimum}.");
        if (value > maximum)
            throw new ConfigException($"Config '{src}': key '{key}' has unsupported value {value.ToString(CultureInfo.InvariantCulture)}: it must be at most {maximum}.");
    }

    private static void RequireExactly(string src, string key, string value, string supported)
    {
        if (value != supported)
            throw Unsupported(src, key, value, $"only '{supported}' is supported");
    }

    private static void RequireLevel1(string src, string key, string value, string supported, string eightTimesVariant)
    {
        if (value == eightTimesVariant)
            throw Unsupported(src, key, value,
                "this selects the 8x temporal-compression variant, which is not supported (no weights of it were released)");
        RequireExactly(src, key, value, supported);
    }

    private static ConfigException Unsupported(string src, string key, string value, string why) =>
        new($"Config '{src}': key '{key}' has unsupported value '{value}': {why}.");

    // Equality by the serialised form: it covers every setting (arrays by value, not by reference).
    public bool Equals(WfVaeConfig? other) => other is not null && ToJson() == other.ToJson();

    public override int GetHashCode() => ToJson().GetHashCode(StringComparison.Ordinal);

    public override string ToString() =>
        $"WfVaeConfig(B={BaseChannels}, L={LatentDim}, Ee={EncoderEnergyFlowHiddenSize}, Ed={DecoderEnergyFlowHiddenSize}, " +
        $"ne={EncoderNumResBlocks}, nd={DecoderNumResBlocks}, r={ConnectResLayerNum}, {NormType}, {TemporalInterpolation}, " +
        $"attention={(UseAttention ? "on" : "off")})";
}

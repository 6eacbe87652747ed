using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace WfVae.Model.Checkpoint;

public sealed partial record WfVaeConfig
{
    /// <summary>A config.json is about 1 KB; anything near this is not one (and /dev/zero never ends).</summary>
    public const int MaxConfigBytes = 1 << 20;

    public static WfVaeConfig Load(string configJsonPath)
    {
        ArgumentNullException.ThrowIfNull(configJsonPath);
        var fullPath = Path.GetFullPath(configJsonPath);
        if (!File.Exists(fullPath))
            throw new FileNotFoundException($"Config file '{fullPath}' does not exist.", fullPath);
        return Parse(WfVae.IO.InputFiles.ReadAllText(fullPath, MaxConfigBytes, "config"), fullPath);
    }

    /// <summary>
    /// Parses a config.json. Every key of the official file is understood; other keys are refused
    /// unless they start with '_' (diffusers bookkeeping), because a silently ignored key could mean
    /// a different model than the one we would build.
    /// </summary>
    public static WfVaeConfig Parse(string json, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(json);
        var src = sourceName ?? "<config>";
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Disallow });
        }
        catch (JsonException e)
        {
            throw new ConfigException($"Config '{src}': not well-formed JSON ({e.Message}).", e);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new ConfigException($"Config '{src}': the top level must be a JSON object, found {root.ValueKind}.");

            var config = new WfVaeConfig();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var p in root.EnumerateObject())
            {
                if (!seen.Add(p.Name))
                    throw new ConfigException($"Config '{src}': key '{p.Name}' appears twice.");
                config = Apply(config, p.Name, p.Value, src);
            }
            config.Validate(src);
            return config;
        }
    }

    private static WfVaeConfig Apply(WfVaeConfig c, string key, JsonElement v, string src) => key switch
    {
        "_class_name" => String(v, key, src) == ClassName
            ? c
            : throw new ConfigException($"Config '{src}': key '_class_name' has unsupported value '{v.GetString()}': only '{ClassName}' is supported."),
        "_diffusers_version" => c with { DiffusersVersion = String(v, key, src) },
        "latent_dim" => c with { LatentDim = Int(v, key, src) },
        "base_channels" => c with { BaseChannels = Int(v, key, src) },
        "encoder_num_resblocks" => c with { EncoderNumResBlocks = Int(v, key, src) },
        "decoder_num_resblocks" => c with { DecoderNumResBlocks = Int(v, key, src) },
        "encoder_energy_flow_hidden_size" => c with { EncoderEnergyFlowHiddenSize = Int(v, key, src) },
        "decoder_energy_flow_hidden_size" => c with { DecoderEnergyFlowHiddenSize = Int(v, key, src) },
        "connect_res_layer_num" => c with { ConnectResLayerNum = Int(v, key, src) },
        "use_attention" => c with { UseAttention = Bool(v, key, src) },
        "attention_type" => c with { AttentionType = String(v, key, src) },
        "norm_type" => c with { NormType = ParseNormType(String(v, key, src), src) },
        "t_interpolation" => c with { TemporalInterpolation = ParseInterpolation(String(v, key, src), src) },
        "dropout" => c with { Dropout = Number(v, key, src) },
        "scale" => c with { Scale = FloatArray(v, key, src) },
        "shift" => c with { Shift = FloatArray(v, key, src) },
        "l1_dowmsample_block" => c with { L1DownsampleBlock = String(v, key, src) },
        "l1_downsample_wavelet" => c with { L1DownsampleWavelet = String(v, key, src) },
        "l2_dowmsample_block" => c with { L2DownsampleBlock = String(v, key, src) },
        "l2_downsample_wavelet" => c with { L2DownsampleWavelet = String(v, key, src) },
        "l1_upsample_block" => c with { L1UpsampleBlock = String(v, key, src) },
        "l1_upsample_wavelet" => c with { L1UpsampleWavelet = String(v, key, src) },
        "l2_upsample_block" => c with { L2UpsampleBlock = String(v, key, src) },
        "l2_upsample_wavelet" => c with { L2UpsampleWavelet = String(v, key, src) },
        _ when key.StartsWith('_') => c,
        _ => throw new ConfigException($"Config '{src}': unknown key '{key}' (value {v.GetRawText()}); refusing a setting this engine does not understand."),
    };

    private static NormType ParseNormType(string value, string src) => value switch
    {
        "layernorm" => NormType.LayerNorm,
        "groupnorm" => NormType.GroupNorm,
        _ => throw new ConfigException($"Config '{src}': key 'norm_type' has unsupported value '{value}': use layernorm or groupnorm."),
    };

    private static TemporalInterpolation ParseInterpolation(string value, string src) => value switch
    {
        "trilinear" => TemporalInterpolation.Trilinear,
        "nearest" => TemporalInterpolation.Nearest,
        _ => throw new ConfigException($"Config '{src}': key 't_interpolation' has unsupported value '{value}': use trilinear or nearest."),
    };

    private static string String(JsonElement v, string key, string src) =>
        v.ValueKind == JsonValueKind.String ? v.GetString()! : throw WrongType(key, v, "a string", src);

    private static int Int(JsonElement v, string key, string src) =>
        v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) ? i : throw WrongType(key, v, "an integer", src);

    private static bool Bool(JsonElement v, string key, string src) => v.ValueKind switch
    {
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => throw WrongType(key, v, "true or false", src),
    };

    private static double Number(JsonElement v, string key, string src) =>
        v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var d) && double.IsFinite(d) ? d : throw WrongType(key, v, "a number", src);

    private static float[] FloatArray(JsonElement v, string key, string src)
    {
        if (v.ValueKind != JsonValueKind.Array)
            throw WrongType(key, v, "an array of numbers", src);
        return v.EnumerateArray().Select(e => (float)Number(e, key, src)).ToArray();
    }

    private static ConfigException WrongType(string key, JsonElement v, string expected, string src) =>
        new($"Config '{src}': key '{key}' has unsupported value {v.GetRawText()}: expected {expected}.");

    /// <summary>
    /// The official key set, sorted and indented like diffusers' own writer (json.dumps(indent=2,
    /// sort_keys=True)), so a config we write reads like, and diffs cleanly against, a released one.
    /// </summary>
    public string ToJson()
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions
        {
            Indented = true,
            IndentSize = 2,
            NewLine = "\n",
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        }))
        {
            w.WriteStartObject();
            w.WriteString("_class_name", ClassName);
            w.WriteString("_diffusers_version", DiffusersVersion);
            w.WriteString("attention_type", AttentionType);
            w.WriteNumber("base_channels", BaseChannels);
            w.WriteNumber("connect_res_layer_num", ConnectResLayerNum);
            w.WriteNumber("decoder_energy_flow_hidden_size", DecoderEnergyFlowHiddenSize);
            w.WriteNumber("decoder_num_resblocks", DecoderNumResBlocks);
            w.WritePropertyName("dropout");
            w.WriteRawValue(PythonFloat(Dropout));
            w.WriteNumber("encoder_energy_flow_hidden_size", EncoderEnergyFlowHiddenSize);
            w.WriteNumber("encoder_num_resblocks", EncoderNumResBlocks);
            w.WriteString("l1_dowmsample_block", L1DownsampleBlock);
            w.WriteString("l1_downsample_wavelet", L1DownsampleWavelet);
            w.WriteString("l1_upsample_block", L1UpsampleBlock);
            w.WriteString("l1_upsample_wavelet", L1UpsampleWavelet);
            w.WriteString("l2_dowmsample_block", L2DownsampleBlock);
            w.WriteString("l2_downsample_wavelet", L2DownsampleWavelet);
            w.WriteString("l2_upsample_block", L2UpsampleBlock);
            w.WriteString("l2_upsample_wavelet", L2UpsampleWavelet);
            w.WriteNumber("latent_dim", LatentDim);
            w.WriteString("norm_type", NormType == NormType.LayerNorm ? "layernorm" : "groupnorm");
            WriteFloats(w, "scale", _scale);
            WriteFloats(w, "shift", _shift);
            w.WriteString("t_interpolation", TemporalInterpolation == TemporalInterpolation.Trilinear ? "trilinear" : "nearest");
            w.WriteBoolean("use_attention", UseAttention);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    private static void WriteFloats(Utf8JsonWriter w, string key, float[] values)
    {
        w.WriteStartArray(key);
        // Whole numbers as integers: the released file has "shift": [0, 0, 0, 0].
        foreach (var f in values)
        {
            if (float.IsInteger(f) && Math.Abs(f) < 1e15f) w.WriteNumberValue((long)f);
            else w.WriteNumberValue(f); // shortest round-trip form
        }
        w.WriteEndArray();
    }

    private static string PythonFloat(double d)
    {
        var text = d.ToString("R", CultureInfo.InvariantCulture);
        return text.Contains('.') || text.Contains('E') ? text : text + ".0";
    }
}

using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;
using System.Text.Json;
using WfVae.Model.Checkpoint;

namespace WfVae.Streaming.LatentStream;

/// <summary>
/// What a latent stream says about itself: the model that produced it (config and weights hash), the
/// latent and video geometry, the frame rate, the latent scale/shift a diffusion model applies, and the
/// end-of-stream frame policy (docs/model.md#end-of-stream). Stored as the JSON part of the file header.
/// </summary>
public sealed record LatentStreamHeader(
    WfVaeConfig Config,
    string WeightsSha256,
    int LatentChannels,
    int LatentHeight,
    int LatentWidth,
    int VideoHeight,
    int VideoWidth,
    int FrameRateNum,
    int FrameRateDen,
    IReadOnlyList<float> Scale,
    IReadOnlyList<float> Shift,
    string FramePolicy,
    DateTime CreatedUtc,
    string Producer)
{
    /// <summary>docs/model.md#end-of-stream: extra copies of the last frame complete the final group of 4.</summary>
    public const string PolicyPad = "pad";
    /// <summary>docs/model.md#end-of-stream, official behaviour: the frames of an incomplete final group are ignored.</summary>
    public const string PolicyDrop = "drop";

    public const int SpatialCompression = 8;

    public int FormatVersion { get; init; } = LatentStreamFormat.Version;

    /// <summary>
    /// Optional (JSON <c>source_width</c>/<c>source_height</c>): the frame size before edge padding to a
    /// multiple of 8 (<c>wfvae --pad</c>); a decoder crops its output back to it. Null: no padding, the
    /// video size is the source size.
    /// </summary>
    public int? SourceWidth { get; init; }
    public int? SourceHeight { get; init; }

    /// <summary>The size to crop decoded frames to: the source size, else the video size.</summary>
    public (int Width, int Height) OutputSize => (SourceWidth ?? VideoWidth, SourceHeight ?? VideoHeight);

    public double FrameRate => (double)FrameRateNum / FrameRateDen;

    /// <summary>Video frames per latent frame after the first (4, or 8 for the 3D level-1 variant).</summary>
    public int TemporalCompression =>
        Config.L1DownsampleBlock == WfVaeConfig.Downsample3DBlock ? 8 : 4;

    /// <summary>Floats in one latent frame of mean (or of logvar): L·h·w.</summary>
    public long FrameValues => (long)LatentChannels * LatentHeight * LatentWidth;

    /// <summary>
    /// A header for latents of <paramref name="config"/>'s model on videos of the given size; latent
    /// geometry, scale and shift come from the config, the creation time is now.
    /// </summary>
    public static LatentStreamHeader For(
        WfVaeConfig config, string weightsSha256, int videoHeight, int videoWidth,
        int frameRateNum, int frameRateDen, string framePolicy)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(weightsSha256);
        var header = new LatentStreamHeader(
            config, weightsSha256.ToLowerInvariant(), config.LatentDim,
            videoHeight / SpatialCompression, videoWidth / SpatialCompression, videoHeight, videoWidth,
            frameRateNum, frameRateDen, config.Scale, config.Shift, framePolicy,
            // Whole seconds: the file records when, not a high-resolution timestamp.
            DateTime.UnixEpoch.AddSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds()),
            DefaultProducer);
        header.Validate();
        return header;
    }

    /// <summary>"WfVae.Vulkan &lt;version&gt;", from this assembly's informational version.</summary>
    public static string DefaultProducer { get; } =
        "WfVae.Vulkan " + (typeof(LatentStreamHeader).Assembly
            .GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown");

    /// <summary>Lowercase hex SHA-256 of a file, e.g. the checkpoint's model.safetensors.</summary>
    public static string Sha256OfFile(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    /// <summary>Largest frame side a header may declare (16K video is 15360 wide).</summary>
    public const int MaxVideoSize = 1 << 16;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first inconsistent field.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Config, nameof(Config));
        Config.Validate();
        if (FormatVersion != LatentStreamFormat.Version)
            throw new ArgumentException($"format_version {FormatVersion} is not supported (this code handles {LatentStreamFormat.Version}).");
        if (WeightsSha256 is null || WeightsSha256.Length != 64 || !WeightsSha256.All(Uri.IsHexDigit))
            throw new ArgumentException($"weights_sha256 must be 64 hex digits, got '{WeightsSha256}'.");
        if (LatentChannels != Config.LatentDim)
            throw new ArgumentException($"latent_channels {LatentChannels} differs from the config's latent_dim {Config.LatentDim}.");
        if (VideoHeight < SpatialCompression || VideoWidth < SpatialCompression)
            throw new ArgumentException($"video size {VideoWidth}x{VideoHeight} is below the minimum 8x8.");
        // Bounded so that every size derived from the header (frame bytes, chunk lengths) fits its type.
        if (VideoHeight > MaxVideoSize || VideoWidth > MaxVideoSize)
            throw new ArgumentException($"video size {VideoWidth}x{VideoHeight} is above the maximum {MaxVideoSize}x{MaxVideoSize}.");
        if (LatentHeight != VideoHeight / SpatialCompression || LatentWidth != VideoWidth / SpatialCompression)
            throw new ArgumentException(
                $"latent size {LatentWidth}x{LatentHeight} does not match video size {VideoWidth}x{VideoHeight} " +
                $"(expected {VideoWidth / SpatialCompression}x{VideoHeight / SpatialCompression}).");
        if (FrameRateNum <= 0 || FrameRateDen <= 0)
            throw new ArgumentException($"frame rate {FrameRateNum}/{FrameRateDen} must have a positive numerator and denominator.");
        if (Scale is null || Shift is null || Scale.Count == 0 || Shift.Count == 0)
            throw new ArgumentException("scale and shift must each have at least one value.");
        if (Scale.Concat(Shift).Any(v => !float.IsFinite(v)))
            throw new ArgumentException("scale and shift must be finite.");
        if (FramePolicy is not (PolicyPad or PolicyDrop))
            throw new ArgumentException($"frame_policy must be '{PolicyPad}' or '{PolicyDrop}', got '{FramePolicy}'.");
        if ((SourceWidth is { } sw && (sw > VideoWidth || sw <= VideoWidth - SpatialCompression))
            || (SourceHeight is { } sh && (sh > VideoHeight || sh <= VideoHeight - SpatialCompression)))
            throw new ArgumentException($"source size {SourceWidth}x{SourceHeight} is not what padding to the video size {VideoWidth}x{VideoHeight} leaves.");
        if (CreatedUtc.Kind == DateTimeKind.Local)
            throw new ArgumentException("created_utc must be a UTC (or unspecified-kind) time.");
        if (Producer is null)
            throw new ArgumentException("producer must not be null.");
    }

    // Lists compare by value, so a header read back equals the one written.
    public bool Equals(LatentStreamHeader? other) =>
        other is not null
        && Config == other.Config && WeightsSha256 == other.WeightsSha256
        && LatentChannels == other.LatentChannels && LatentHeight == other.LatentHeight && LatentWidth == other.LatentWidth
        && VideoHeight == other.VideoHeight && VideoWidth == other.VideoWidth
        && FrameRateNum == other.FrameRateNum && FrameRateDen == other.FrameRateDen
        && Scale.SequenceEqual(other.Scale) && Shift.SequenceEqual(other.Shift)
        && FramePolicy == other.FramePolicy && CreatedUtc == other.CreatedUtc
        && Producer == other.Producer && FormatVersion == other.FormatVersion
        && SourceWidth == other.SourceWidth && SourceHeight == other.SourceHeight;

    public override int GetHashCode() => HashCode.Combine(Config, WeightsSha256, LatentHeight, LatentWidth, FrameRateNum, CreatedUtc);

    /// <summary>The header's JSON text (indented; keys in a fixed order).</summary>
    public string ToJson()
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, IndentSize = 2, NewLine = "\n" }))
        {
            w.WriteStartObject();
            w.WriteNumber("format_version", FormatVersion);
            w.WriteString("producer", Producer);
            w.WriteString("created_utc", DateTime.SpecifyKind(CreatedUtc, DateTimeKind.Utc).ToString("yyyy-MM-ddTHH:mm:ss.FFFFFFFZ", CultureInfo.InvariantCulture));
            w.WriteString("weights_sha256", WeightsSha256);
            w.WriteNumber("latent_channels", LatentChannels);
            w.WriteNumber("latent_height", LatentHeight);
            w.WriteNumber("latent_width", LatentWidth);
            w.WriteNumber("video_height", VideoHeight);
            w.WriteNumber("video_width", VideoWidth);
            if (SourceWidth is { } sw) w.WriteNumber("source_width", sw);
            if (SourceHeight is { } sh) w.WriteNumber("source_height", sh);
            w.WriteNumber("frame_rate_num", FrameRateNum);
            w.WriteNumber("frame_rate_den", FrameRateDen);
            w.WriteNumber("frame_rate", FrameRate);
            w.WriteString("frame_policy", FramePolicy);
            w.WriteNumber("temporal_compression", TemporalCompression);
            w.WriteNumber("spatial_compression", SpatialCompression);
            WriteFloats(w, "scale", Scale);
            WriteFloats(w, "shift", Shift);
            w.WritePropertyName("model_config");
            using (var config = JsonDocument.Parse(Config.ToJson()))
                config.WriteTo(w);
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void WriteFloats(Utf8JsonWriter w, string key, IReadOnlyList<float> values)
    {
        w.WriteStartArray(key);
        foreach (var v in values) w.WriteNumberValue(v); // shortest round-trip form
        w.WriteEndArray();
    }

    /// <summary>
    /// Parses the JSON part of a file header. Unknown keys are ignored (later minor revisions may add
    /// some); missing or mistyped keys are a <see cref="LatentStreamFormatException"/>.
    /// </summary>
    public static LatentStreamHeader FromJson(string json, string sourceName)
    {
        JsonDocument document;
        try { document = JsonDocument.Parse(json); }
        catch (JsonException e)
        {
            throw new LatentStreamFormatException($"Latent stream '{sourceName}': header is not well-formed JSON ({e.Message}).", e);
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw Bad(sourceName, "header JSON is not an object");

            WfVaeConfig config;
            try { config = WfVaeConfig.Parse(Get(root, "model_config", JsonValueKind.Object, sourceName).GetRawText(), $"{sourceName} (model_config)"); }
            catch (ConfigException e)
            {
                throw new LatentStreamFormatException($"Latent stream '{sourceName}': header model_config is not usable: {e.Message}", e);
            }

            var header = new LatentStreamHeader(
                config,
                GetString(root, "weights_sha256", sourceName),
                GetInt(root, "latent_channels", sourceName),
                GetInt(root, "latent_height", sourceName),
                GetInt(root, "latent_width", sourceName),
                GetInt(root, "video_height", sourceName),
                GetInt(root, "video_width", sourceName),
                GetInt(root, "frame_rate_num", sourceName),
                GetInt(root, "frame_rate_den", sourceName),
                GetFloats(root, "scale", sourceName),
                GetFloats(root, "shift", sourceName),
                GetString(root, "frame_policy", sourceName),
                GetTime(root, "created_utc", sourceName),
                GetString(root, "producer", sourceName))
            {
                FormatVersion = GetInt(root, "format_version", sourceName),
                SourceWidth = root.TryGetProperty("source_width", out _) ? GetInt(root, "source_width", sourceName) : null,
                SourceHeight = root.TryGetProperty("source_height", out _) ? GetInt(root, "source_height", sourceName) : null,
            };
            try { header.Validate(); }
            catch (Exception e) when (e is ArgumentException or ConfigException)
            {
                throw new LatentStreamFormatException($"Latent stream '{sourceName}': header is inconsistent: {e.Message}", e);
            }
            return header;
        }
    }

    private static LatentStreamFormatException Bad(string source, string what) => new($"Latent stream '{source}': {what}.");

    private static JsonElement Get(JsonElement root, string key, JsonValueKind kind, string source)
    {
        if (!root.TryGetProperty(key, out var value))
            throw Bad(source, $"header lacks key '{key}'");
        if (value.ValueKind != kind)
            throw Bad(source, $"header key '{key}' is {value.ValueKind}, expected {kind}");
        return value;
    }

    private static int GetInt(JsonElement root, string key, string source) =>
        Get(root, key, JsonValueKind.Number, source).TryGetInt32(out var v)
            ? v : throw Bad(source, $"header key '{key}' is not a 32-bit integer");

    private static string GetString(JsonElement root, string key, string source) =>
        Get(root, key, JsonValueKind.String, source).GetString()!;

    private static float[] GetFloats(JsonElement root, string key, string source)
    {
        var array = Get(root, key, JsonValueKind.Array, source);
        var values = new float[array.GetArrayLength()];
        int i = 0;
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetSingle(out values[i++]))
                throw Bad(source, $"header key '{key}' must be an array of numbers");
        }
        return values;
    }

    private static DateTime GetTime(JsonElement root, string key, string source) =>
        DateTime.TryParse(GetString(root, key, source), CultureInfo.InvariantCulture,
            DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var time)
            ? time : throw Bad(source, $"header key '{key}' is not an ISO 8601 time");
}

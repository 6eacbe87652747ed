using System.Globalization;
using System.Text.Json;
using WfVae.Model.Checkpoint;

namespace WfVae.Streaming.LatentStream;

/// <summary>What <see cref="LatentStreamConverter.ToSafetensors"/> wrote.</summary>
/// <param name="Complete">The source had a valid trailer; otherwise only its intact prefix was converted.</param>
/// <param name="VideoFrames">The true video length, known only from a complete source.</param>
/// <param name="StopReason">Why reading stopped early (see <see cref="LatentStreamReader.StopReason"/>).</param>
public sealed record LatentStreamConversion(
    string SourcePath,
    string OutputPath,
    bool Complete,
    int Chunks,
    int LatentFrames,
    bool HasLogvar,
    long? VideoFrames,
    string? StopReason,
    long ValidBytes);

/// <summary>Turns a latent stream into one safetensors file of the whole clip, for training pipelines.</summary>
public static class LatentStreamConverter
{
    /// <summary>
    /// Writes tensor <c>mean</c> (and <c>logvar</c> when the stream has it) as float32
    /// [1, L, t, h, w] with the stream's header and trailer as string metadata (keys in
    /// docs/latent-stream-format.md). The output is written atomically. An incomplete source is
    /// converted as far as it is intact and the metadata says <c>complete: false</c>; a source without
    /// a single intact chunk is refused.
    /// </summary>
    public static LatentStreamConversion ToSafetensors(string wflPath, string safetensorsPath)
    {
        ArgumentNullException.ThrowIfNull(wflPath);
        ArgumentNullException.ThrowIfNull(safetensorsPath);
        using var reader = LatentStreamReader.Open(wflPath);
        var (mean, logvar) = reader.ReadAll();
        var source = Path.GetFullPath(wflPath);
        if (mean.T == 0)
            throw new LatentStreamFormatException(
                $"Latent stream '{source}' holds no intact chunk record; nothing to convert ({reader.StopReason ?? "it is empty"}).");

        var tensors = new List<(string, long[], ReadOnlyMemory<float>)> { ("mean", mean.Shape, mean.Data) };
        if (logvar is not null) tensors.Add(("logvar", logvar.Shape, logvar.Data));
        var output = Path.GetFullPath(safetensorsPath);
        SafetensorsWriter.Write(output, tensors, SafetensorsDType.F32, Metadata(reader, mean.T));

        return new LatentStreamConversion(source, output, reader.Complete, reader.ChunksRead, reader.LatentFramesRead,
            logvar is not null, reader.Trailer?.VideoFrames, reader.StopReason, reader.ValidBytes);
    }

    private static Dictionary<string, string> Metadata(LatentStreamReader reader, int latentFrames)
    {
        var h = reader.Header;
        string Num(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        string Int(long v) => v.ToString(CultureInfo.InvariantCulture);
        var metadata = new Dictionary<string, string>
        {
            ["format"] = "wfvae-latents",
            ["layout"] = "NCTHW",
            ["source_format_version"] = Int(h.FormatVersion),
            ["model_config"] = h.Config.ToJson(),
            ["weights_sha256"] = h.WeightsSha256,
            ["latent_frames"] = Int(latentFrames),
            ["video_height"] = Int(h.VideoHeight),
            ["video_width"] = Int(h.VideoWidth),
            ["frame_rate"] = $"{h.FrameRateNum}/{h.FrameRateDen}",
            ["frame_rate_fps"] = Num(h.FrameRate),
            ["frame_policy"] = h.FramePolicy,
            ["scale"] = JsonSerializer.Serialize(h.Scale),
            ["shift"] = JsonSerializer.Serialize(h.Shift),
            ["created_utc"] = h.CreatedUtc.ToString("yyyy-MM-ddTHH:mm:ss.FFFFFFFZ", CultureInfo.InvariantCulture),
            ["producer"] = h.Producer,
            ["complete"] = reader.Complete ? "true" : "false",
        };
        if (reader.Trailer is { } t)
        {
            metadata["video_frames"] = Int(t.VideoFrames);
            metadata["padded_frames"] = Int(t.PaddedFrames);
            metadata["dropped_frames"] = Int(t.DroppedFrames);
        }
        if (reader.StopReason is { } reason) metadata["stop_reason"] = reason;
        return metadata;
    }
}

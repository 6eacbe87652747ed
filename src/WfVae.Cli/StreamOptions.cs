using System.Globalization;
using System.IO.Pipelines;
using System.Text.Json;
using WfVae.Model.Checkpoint;
using WfVae.Streaming;

namespace WfVae.Cli;

/// <summary>The options encode and decode share: --chunk, --policy, --stats, raw frame formats.</summary>
internal static class StreamOptions
{
    /// <summary>--chunk n; default 4 video frames / 1 latent frame, 0 (whole clip) for GroupNorm models, which cannot stream exactly.</summary>
    public static int Chunk(Options o, WfVaeConfig config, int streamingDefault)
    {
        var text = o.Get("--chunk");
        if (text == null) return config.NormType == NormType.GroupNorm ? 0 : streamingDefault;
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int chunk))
            throw new UsageException($"--chunk must be a non-negative integer, got '{text}'");
        return chunk;
    }

    public static FramePolicy Policy(Options o) => (o.Get("--policy") ?? "pad").ToLowerInvariant() switch
    {
        "pad" => FramePolicy.Pad,
        "drop" => FramePolicy.Drop,
        var p => throw new UsageException($"--policy must be pad or drop, got '{p}'"),
    };

    /// <summary>--raw rgb24|f32 with --size WxH [--fps num/den]; null when --raw is absent.</summary>
    public static RawFrameFormat? RawFormat(Options o, bool sizeRequired)
    {
        if (o.Get("--raw") is not { } raw) return null;
        var pixel = RawFrameFormat.ParsePixel(raw);
        var (num, den) = Fps(o);
        var size = o.Get("--size");
        if (size == null)
        {
            if (sizeRequired) throw new UsageException("--raw needs --size WxH");
            return new RawFrameFormat(pixel, 8, 8, num, den); // the size comes from the latents
        }
        var parts = size.ToLowerInvariant().Split('x');
        if (parts.Length != 2 || !int.TryParse(parts[0], out int w) || !int.TryParse(parts[1], out int h))
            throw new UsageException($"--size must be WIDTHxHEIGHT, got '{size}'");
        return new RawFrameFormat(pixel, w, h, num, den);
    }

    public static (int Num, int Den) Fps(Options o)
    {
        var text = o.Get("--fps") ?? "30/1";
        var parts = text.Split('/');
        if (parts.Length is < 1 or > 2 || !int.TryParse(parts[0], out int num) || num < 1
            || !(parts.Length == 1 || int.TryParse(parts[1], out _)) || (parts.Length == 2 && int.Parse(parts[1]) < 1))
            throw new UsageException($"--fps must be a positive rational like 30 or 30000/1001, got '{text}'");
        return (num, parts.Length == 2 ? int.Parse(parts[1]) : 1);
    }

    /// <summary>A file, or standard input for "-".</summary>
    public static Stream OpenInput(string path) => path == "-" ? Console.OpenStandardInput() : File.OpenRead(path);

    public static Stream OpenOutput(string path) => path == "-" ? Console.OpenStandardOutput() : File.Create(path);

    /// <summary>Writes the --stats file: one stream's figures, or the sum of several (one per batch item).</summary>
    public static void WriteStats(Options o, IReadOnlyList<StreamStats> all)
    {
        if (o.Get("--stats") is not { } path || all.Count == 0) return;
        if (all.Count == 1)
        {
            all[0].WriteJson(path);
            return;
        }
        var chunks = all.SelectMany(s => s.Chunks).Select((c, i) => c with { Index = i }).ToList();
        var combined = new Dictionary<string, object>
        {
            ["direction"] = all[0].Direction,
            ["chunk"] = all[0].Chunk,
            ["items"] = all.Count,
            ["frames_in"] = all.Sum(s => s.FramesIn),
            ["frames_out"] = all.Sum(s => s.FramesOut),
            ["padded_frames"] = all.Sum(s => s.PaddedFrames),
            ["dropped_frames"] = all.Sum(s => s.DroppedFrames),
            ["device_bytes_at_start"] = all[0].DeviceBytesAtStart,
            ["peak_device_bytes"] = all.Max(s => s.PeakDeviceBytes),
            ["peak_stream_bytes"] = all.Max(s => s.PeakStreamBytes),
            ["elapsed_ms"] = all.Sum(s => s.ElapsedMs),
            ["chunk_latency_ms"] = chunks.Select(c => c.LatencyMs).ToList(),
            ["chunks"] = chunks,
        };
        File.WriteAllText(path, JsonSerializer.Serialize(combined, new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    /// <summary>A pipe reader over frame-major planar float32 frames already in memory.</summary>
    public static PipeReader FromFrames(float[] frames) =>
        PipeReader.Create(new MemoryStream(System.Runtime.InteropServices.MemoryMarshal.AsBytes(frames.AsSpan()).ToArray()));
}

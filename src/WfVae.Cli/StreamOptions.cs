using System.Globalization;
using System.IO.Pipelines;
using System.Text.Json;
using WfVae.Model.Checkpoint;
using WfVae.Streaming;

namespace WfVae.Cli;

/// <summary>The options encode and decode share: --chunk, --policy, --stats, raw frame formats.</summary>
internal static class StreamOptions
{
    /// <summary>
    /// --chunk n; default 4 video frames / 1 latent frame, 0 (whole clip) for GroupNorm models, which cannot
    /// stream exactly. Video-frame chunks must be multiples of 4 (each 4 frames make one latent).
    /// </summary>
    public static int Chunk(Options o, WfVaeConfig config, int streamingDefault, bool videoFrames = false)
    {
        var text = o.Get("--chunk");
        if (text == null) return config.NormType == NormType.GroupNorm ? 0 : streamingDefault;
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int chunk))
            throw new UsageException($"--chunk must be a non-negative integer, got '{text}'");
        if (videoFrames && chunk % 4 != 0)
            throw new UsageException($"--chunk must be a multiple of 4 video frames (0 = whole clip), got {chunk}");
        return chunk;
    }

    public static FramePolicy Policy(Options o) => (o.Get("--policy") ?? "pad").ToLowerInvariant() switch
    {
        "pad" => FramePolicy.Pad,
        "drop" => FramePolicy.Drop,
        var p => throw new UsageException($"--policy must be pad or drop, got '{p}'"),
    };

    /// <summary>
    /// --raw rgb24|f32 with --size WxH [--fps num/den], or the compact --raw WxH[@fps] (rgb24); null when
    /// --raw is absent. Without <paramref name="sizeRequired"/> (decode's output) only the layout may be named.
    /// </summary>
    public static RawFrameFormat? RawFormat(Options o, bool sizeRequired)
    {
        if (o.Get("--raw") is not { } raw)
        {
            RefuseIgnored(o, "without --raw (the input gives the frame size; --vf scale=W:H resizes)", "--size");
            return null;
        }
        var compact = System.Text.RegularExpressions.Regex.Match(raw, @"^(\d+)x(\d+)(?:@(.+))?$", System.Text.RegularExpressions.RegexOptions.IgnoreCase);
        if (compact.Success)
        {
            // Without a required size the frames are an output whose size and rate the latents give (decode).
            if (!sizeRequired) throw new UsageException($"--raw {raw}: the latents give the frame size and rate; name the layout only (--raw rgb24 or f32; --fps sets another rate)");
            if (o.Has("--size")) throw new UsageException($"--raw {raw} already gives the size; leave out --size");
            if (compact.Groups[3].Success && o.Has("--fps")) throw new UsageException($"--raw {raw} already gives the frame rate; leave out --fps");
            var (n, d) = compact.Groups[3].Success ? ParseFps(compact.Groups[3].Value, "--raw WxH@fps") : Fps(o);
            return new RawFrameFormat(RawPixelFormat.Rgb24, ParseDim(compact.Groups[1].Value, raw), ParseDim(compact.Groups[2].Value, raw), n, d);
        }
        var pixel = RawFrameFormat.ParsePixel(raw);
        var (num, den) = Fps(o);
        var size = o.Get("--size");
        if (size == null)
        {
            if (sizeRequired) throw new UsageException("--raw needs --size WxH (or the compact form --raw WxH@fps)");
            return new RawFrameFormat(pixel, 8, 8, num, den); // the size comes from the latents
        }
        var parts = size.ToLowerInvariant().Split('x');
        if (parts.Length != 2 || !int.TryParse(parts[0], out int w) || !int.TryParse(parts[1], out int h))
            throw new UsageException($"--size must be WIDTHxHEIGHT, got '{size}'");
        return new RawFrameFormat(pixel, w, h, num, den);
    }

    /// <summary>
    /// Refuses the first of <paramref name="names"/> that was given although it has no effect <paramref name="where"/>:
    /// silently ignored, it would run with a result the user meant to change, as a misspelt option would.
    /// </summary>
    public static void RefuseIgnored(Options o, string where, params string[] names)
    {
        if (names.FirstOrDefault(o.Has) is { } name) throw new UsageException($"{name} has no effect {where}; leave it out");
    }

    private static int ParseDim(string text, string raw) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v > 0 ? v
            : throw new UsageException($"--raw must be WIDTHxHEIGHT[@FPS] with positive sizes, got '{raw}'");

    public static (int Num, int Den) Fps(Options o) => ParseFps(o.Get("--fps") ?? "30/1", "--fps");

    /// <summary>"30", "30000/1001" or "29.97" (taken as 30000/1001-style: to 1/1000 precision).</summary>
    public static (int Num, int Den) ParseFps(string text, string what)
    {
        var parts = text.Split('/');
        if (parts.Length == 2 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int n)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int d) && n > 0 && d > 0)
            return (n, d);
        if (parts.Length == 1 && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int whole) && whole > 0)
            return (whole, 1);
        if (parts.Length == 1 && double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double f) && f > 0 && f < 1e6)
            return ((int)Math.Round(f * 1000), 1000);
        throw new UsageException($"{what} must be a positive frame rate like 30, 29.97 or 30000/1001, got '{text}'");
    }

    /// <summary>--frames n: stop reading the input after n frames (a live stream's natural bound); null: read to the end.</summary>
    public static long? MaxFrames(Options o)
    {
        if (o.Get("--frames") is not { } text) return null;
        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long n) && n > 0 ? n
            : throw new UsageException($"--frames must be a positive integer, got '{text}'");
    }

    /// <summary>", padded 3 frames (policy pad)" or ", dropped 1 frames ... (policy drop)" or "".</summary>
    public static string PolicyNote(StreamStats s) =>
        s.PaddedFrames > 0 ? $", padded {s.PaddedFrames} frames (policy pad)"
        : s.DroppedFrames > 0 ? $", dropped {s.DroppedFrames} frames of an incomplete group (policy drop)" : "";

    /// <summary>A file, or standard input for "-".</summary>
    public static Stream OpenInput(string path) => path == "-" ? Console.OpenStandardInput() : File.OpenRead(path);

    /// <summary>True when an output is standard output: then messages go to stderr, not stdout.</summary>
    public static bool IsStdout(string? output) => output != null && WfVae.IO.OutputFile.IsStdout(output);

    /// <summary>Where decode and recon write: --output, or standard output for raw frames (--raw) without one; null: neither.</summary>
    public static string? FramesOutput(Options o) => o.Get("--output") ?? (o.Has("--raw") ? "-" : null);

    /// <summary>Where summaries go: stdout, unless stdout carries the output or the statistics.</summary>
    public static TextWriter MessageWriter(Options o, TextWriter stdout, TextWriter stderr, string? output = null) =>
        IsStdout(output ?? o.Get("--output")) || IsStdout(o.Get("--stats")) ? stderr : stdout;

    /// <summary>
    /// Starts the --stats file before any work: a folder it cannot be written to fails before the run, not after
    /// it, and a run that fails leaves no statistics file behind (<see cref="WriteStats"/> completes it).
    /// </summary>
    public static WfVae.IO.OutputFile? StartStats(Options o) => StartOutput(o, "--stats");

    /// <summary>The output <paramref name="option"/> names, started (its temporary created) now; null when it is not given.</summary>
    public static WfVae.IO.OutputFile? StartOutput(Options o, string option) => o.Get(option) is { } path ? WfVae.IO.OutputFile.Create(path) : null;

    /// <summary>Completes the --stats file: one stream's figures, or the sum of several (one per batch item).</summary>
    public static void WriteStats(WfVae.IO.OutputFile? file, IReadOnlyList<StreamStats> all)
    {
        if (file == null || all.Count == 0) return;
        if (all.Count == 1)
        {
            CompleteJson(file, all[0].ToJson());
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
            ["memory"] = all.Select(s => s.Memory).Where(m => m != null).MaxBy(m => m!.PlannedChunkBytes)!,
            ["elapsed_ms"] = all.Sum(s => s.ElapsedMs),
            ["pushes"] = all.Sum(s => s.Pushes),
            ["max_chunk_latency_ms"] = all.Max(s => s.MaxChunkLatencyMs),
            ["mean_chunk_latency_ms"] = all.Sum(s => s.MeanChunkLatencyMs * s.Pushes) / Math.Max(1, all.Sum(s => s.Pushes)),
            ["chunk_latency_ms"] = chunks.Select(c => c.LatencyMs).ToList(),
            ["chunks"] = chunks,
        };
        CompleteJson(file, JsonSerializer.Serialize(combined, new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Writes JSON text and a newline to an output started before the work (statistics, bench reports) and commits it.</summary>
    public static void CompleteJson(WfVae.IO.OutputFile file, string json) => file.Complete(json + "\n");

    /// <summary>A pipe reader over frame-major planar float32 frames already in memory.</summary>
    public static PipeReader FromFrames(float[] frames) =>
        PipeReader.Create(new MemoryStream(System.Runtime.InteropServices.MemoryMarshal.AsBytes(frames.AsSpan()).ToArray()));
}

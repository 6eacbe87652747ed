using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using WfVae.Model;
using WfVae.Runtime;

namespace WfVae.Streaming;

/// <summary>One push through the model: what went in, what came out, how long it took (upload, GPU, download).</summary>
public sealed record ChunkStat(
    [property: JsonPropertyName("index")] int Index,
    [property: JsonPropertyName("frames_in")] int FramesIn,
    [property: JsonPropertyName("frames_out")] int FramesOut,
    [property: JsonPropertyName("latency_ms")] double LatencyMs);

/// <summary>
/// Figures of one stream (encode: frames in = video frames, out = latent frames; decode: the reverse).
/// Device bytes come from the runtime's memory accounting: the peak is reset when the stream starts and
/// includes everything live on the device then (the weights). A live stream may run for days, so the figures of
/// each push are kept for the first <see cref="MaxChunkRecords"/> pushes only; every push counts in
/// <see cref="Pushes"/> and the latency totals, and nothing else grows with the stream.
/// </summary>
public sealed class StreamStats
{
    private readonly VulkanDevice _device;
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    [JsonPropertyName("direction")] public string Direction { get; }
    [JsonPropertyName("chunk")] public int Chunk { get; }
    [JsonPropertyName("frames_in")] public long FramesIn { get; internal set; }
    [JsonPropertyName("frames_out")] public long FramesOut { get; internal set; }
    /// <summary>Encode: copies of the last frame appended (pad policy). Decode: frames cut after the true count.</summary>
    [JsonPropertyName("padded_frames")] public int PaddedFrames { get; internal set; }
    /// <summary>Encode: frames of an incomplete final group left out (drop policy).</summary>
    [JsonPropertyName("dropped_frames")] public int DroppedFrames { get; internal set; }
    [JsonPropertyName("device_bytes_at_start")] public long DeviceBytesAtStart { get; }
    [JsonPropertyName("peak_device_bytes")] public long PeakDeviceBytes => Math.Max(_peak, _device.Memory.PeakBytes);
    /// <summary>Peak minus the bytes live at the start: what the stream itself needed (caches, arena).</summary>
    [JsonPropertyName("peak_stream_bytes")] public long PeakStreamBytes => PeakDeviceBytes - DeviceBytesAtStart;
    /// <summary>The session's memory breakdown after the last push (weights, caches, planned activations, live-set bounds).</summary>
    [JsonPropertyName("memory")] public MemoryStats? Memory => _memory is { } m ? MemoryStats.From(m) : null;
    [JsonPropertyName("elapsed_ms")] public double ElapsedMs { get; private set; }
    /// <summary>Pushes so far, also those past <see cref="MaxChunkRecords"/>.</summary>
    [JsonPropertyName("pushes")] public long Pushes { get; private set; }
    [JsonPropertyName("max_chunk_latency_ms")] public double MaxChunkLatencyMs { get; private set; }
    [JsonPropertyName("mean_chunk_latency_ms")] public double MeanChunkLatencyMs => Pushes == 0 ? 0 : _latencyTotalMs / Pushes;
    /// <summary>Latency of each of the first <see cref="MaxChunkRecords"/> pushes.</summary>
    [JsonPropertyName("chunk_latency_ms")] public IEnumerable<double> ChunkLatencyMs => Chunks.Select(c => c.LatencyMs);
    /// <summary>The first <see cref="MaxChunkRecords"/> pushes.</summary>
    [JsonPropertyName("chunks")] public List<ChunkStat> Chunks { get; } = new();

    /// <summary>Pushes whose own figures are kept in <see cref="Chunks"/>.</summary>
    public const int MaxChunkRecords = 1024;

    private long _peak;
    private double _latencyTotalMs;
    private MemoryReport? _memory;

    internal StreamStats(VulkanDevice device, string direction, int chunk)
    {
        _device = device;
        Direction = direction;
        Chunk = chunk;
        DeviceBytesAtStart = device.Memory.CurrentBytes;
        device.Memory.ResetPeak();
    }

    internal void Add(int framesIn, int framesOut, double ms, MemoryReport memory)
    {
        _memory = memory;
        if (Chunks.Count < MaxChunkRecords) Chunks.Add(new ChunkStat(Chunks.Count, framesIn, framesOut, ms));
        Pushes++;
        _latencyTotalMs += ms;
        MaxChunkLatencyMs = Math.Max(MaxChunkLatencyMs, ms);
        FramesIn += framesIn;
        FramesOut += framesOut;
        _peak = Math.Max(_peak, _device.Memory.PeakBytes);
        ElapsedMs = _clock.Elapsed.TotalMilliseconds;
    }

    internal void Finish()
    {
        _peak = Math.Max(_peak, _device.Memory.PeakBytes);
        ElapsedMs = _clock.Elapsed.TotalMilliseconds;
    }

    public string ToJson() => JsonSerializer.Serialize(this, new JsonSerializerOptions { WriteIndented = true });
}

/// <summary>The --stats form of a <see cref="MemoryReport"/> (bytes).</summary>
public sealed record MemoryStats(
    [property: JsonPropertyName("weight_bytes")] long WeightBytes,
    [property: JsonPropertyName("cache_bytes")] long CacheBytes,
    [property: JsonPropertyName("planned_activation_bytes")] long PlannedActivationBytes,
    [property: JsonPropertyName("peak_activation_bytes")] long PeakActivationBytes,
    [property: JsonPropertyName("live_set_bytes")] long LiveSetBytes,
    [property: JsonPropertyName("largest_live_bytes")] long[] LargestLiveBytes,
    [property: JsonPropertyName("planned_chunk_bytes")] long PlannedChunkBytes,
    [property: JsonPropertyName("planned_pushes")] int PlannedPushes,
    [property: JsonPropertyName("pushes")] int Pushes)
{
    public static MemoryStats From(MemoryReport r) => new(r.WeightBytes, r.CacheBytes, r.PlannedActivationBytes, r.PeakActivationBytes,
        r.LiveSetBytes, new[] { r.LargestLiveBytes, r.SecondLargestLiveBytes }, r.PlannedBytes, r.PlannedPushes, r.Pushes);
}

using System.Globalization;
using WfVae.Model;
using WfVae.Model.Checkpoint;

namespace WfVae.Cli;

/// <summary>
/// info --model M --height H --width W [--chunk N]: the per-chunk device memory plan for that frame size,
/// obtained by pushing frames of zeros through an encoder and a decoder session on the device (the arena
/// plans intermediates from the lifetimes it records, so the plan exists only after a push has run).
/// </summary>
internal static class MemoryPlanInfo
{
    public static bool Requested(Options o) => o.Has("--height") || o.Has("--width");

    public static void Print(Options o, WfVaeModel model, TextWriter stdout)
    {
        var (h, w) = FrameSize(o);
        int chunk = Dim(o, "--chunk", fallback: 4);
        if (chunk % WfVaeConfig.TemporalCompression != 0)
            throw new UsageException($"--chunk must be a multiple of {WfVaeConfig.TemporalCompression} video frames, got {chunk}");
        int latentChunk = chunk / WfVaeConfig.TemporalCompression;
        // First push: frame 0 alone; then two chunks, so the second one follows the plan of the first.
        var encPushes = new[] { 1, chunk, chunk };
        // The decoder's first three pushes differ (Haar start, time upsampler start); the fourth is steady.
        var decPushes = new[] { 1, latentChunk, latentChunk, latentChunk };

        MemoryReport enc, dec;
        using (var s = model.OpenEncoder(h, w))
        {
            foreach (int n in encPushes) s.Push(new float[n * 3 * h * w], n);
            enc = s.Memory;
        }
        int lh = WfVaeConfig.LatentSize(h), lw = WfVaeConfig.LatentSize(w), l = model.Config.LatentDim;
        using (var s = model.OpenDecoder(lh, lw))
        {
            foreach (int n in decPushes) s.Push(new float[n * l * lh * lw], n, last: false);
            dec = s.Memory;
        }
        stdout.WriteLine($"memory:     plan for {w}x{h} frames in chunks of {chunk} frames ({latentChunk} latent{(latentChunk == 1 ? "" : "s")}), measured by pushing zeros");
        stdout.WriteLine($"            through the encoder ({string.Join(", ", encPushes)} frames) and the decoder ({string.Join(", ", decPushes)} latents) on the device");
        Line(stdout, "encoder", enc);
        Line(stdout, "decoder", dec);
        long peak = Math.Max(enc.PlannedBytes, dec.PlannedBytes);
        stdout.WriteLine($"            per-chunk peak: {MiB(peak)} (weights {MiB(model.WeightBytes)} + the larger of encoder and decoder; recon holds both caches: {MiB(model.WeightBytes + enc.CacheBytes + dec.CacheBytes + Math.Max(enc.ScratchBytes + enc.PlannedActivationBytes, dec.ScratchBytes + dec.PlannedActivationBytes))})");
    }

    private static void Line(TextWriter stdout, string part, MemoryReport r) =>
        stdout.WriteLine($"  {part}:  caches {MiB(r.CacheBytes)}, activations {MiB(r.PlannedActivationBytes)} planned " +
                         $"(live set {MiB(r.LiveSetBytes)}; two largest live {MiB(r.LargestLiveBytes)} + {MiB(r.SecondLargestLiveBytes)}; " +
                         $"first pushes up to {MiB(r.PeakActivationBytes)}){(r.ScratchBytes > 0 ? $", conv scratch {MiB(r.ScratchBytes)}" : "")}, " +
                         $"weights + caches + {(r.ScratchBytes > 0 ? "scratch + " : "")}activations {MiB(r.PlannedBytes)}");

    private static string MiB(long bytes) => $"{bytes / 1048576.0:F1} MiB";

    /// <summary>--height and --width: multiples of 8 whose frame of floats fits one push (as raw f32 input must).</summary>
    internal static (int Height, int Width) FrameSize(Options o)
    {
        int h = Dim(o, "--height"), w = Dim(o, "--width");
        try { _ = new WfVae.Streaming.RawFrameFormat(WfVae.Streaming.RawPixelFormat.PlanarFloat32, w, h); }
        catch (ArgumentException e) { throw new UsageException($"--width {w} --height {h}: {e.Message}"); }
        return (h, w);
    }

    internal static int Dim(Options o, string name, int? fallback = null)
    {
        var text = o.Get(name);
        if (text == null) return fallback ?? throw new UsageException($"{name} is required with {(name == "--height" ? "--width" : "--height")}");
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int v) || v <= 0)
            throw new UsageException($"{name} must be a positive integer, got '{text}'");
        if (name != "--chunk" && !WfVaeConfig.FitsSpatially(v))
            throw new UsageException($"{name} must be a multiple of {WfVaeConfig.SpatialCompression} pixels, got {v}");
        return v;
    }
}

using System.Diagnostics;
using System.Text;
using WfVae.Model;
using WfVae.Model.Checkpoint;
using WfVae.Runtime;
using WfVae.Streaming;

namespace WfVae.Cli.Benchmarks;

/// <summary>
/// N concurrent encode + decode streams of different clips on one loaded model, each on its own thread: checks
/// every stream against the same stream run alone, and reports the aggregate throughput and the device memory
/// against what N separately loaded models would hold.
/// </summary>
public static class SessionsBenchmark
{
    /// <summary>The outcome; memory figures are device bytes.</summary>
    public sealed record Result(int Sessions, int Frames, int Height, int Width, bool BitIdentical, double Seconds, double AloneSeconds,
        long WeightBytes, long OneStreamPeakBytes, long ConcurrentPeakBytes)
    {
        public double FramesPerSecond => Sessions * Frames / Seconds;
        public long SeparateModelsBytes => Sessions * OneStreamPeakBytes;
    }

    /// <summary>Latents (mean) and decoded video of one stream: frame 0 alone, then 4 frames a push (<see cref="ChunkPolicy"/>); every latent decoded as it comes.</summary>
    private static (float[] Mean, float[] Video) RunStream(WfVaeModel model, float[] clip, int frames, int h, int w)
    {
        using var enc = model.OpenEncoder(h, w);
        using var dec = model.OpenDecoder(WfVaeConfig.LatentSize(h), WfVaeConfig.LatentSize(w));
        var mean = new List<float>();
        var video = new List<float>();
        int size = 3 * h * w;
        foreach (var (start, count) in ChunkPolicy.Pushes(frames, WfVaeConfig.TemporalCompression))
        {
            var z = enc.Push(clip.AsSpan(start * size, count * size), count);
            mean.AddRange(z.Mean);
            video.AddRange(dec.Push(z.Mean, z.Frames, last: false).Data);
        }
        video.AddRange(dec.Flush().Data);
        return (mean.ToArray(), video.ToArray());
    }

    public static Result Run(WfVaeModel model, int sessions, int frames, int height, int width, TextWriter log)
    {
        var device = model.Device;
        var clips = Enumerable.Range(0, sessions).Select(i => SyntheticClip(frames, height, width, seed: i)).ToArray();

        RunStream(model, clips[0], frames, height, width); // warm-up: pipelines are built on first use
        // Alone: each stream by itself; its peak is what one separately loaded model would hold.
        device.Memory.ResetPeak();
        long before = device.Memory.CurrentBytes - model.WeightBytes;
        var clock = Stopwatch.StartNew();
        var alone = clips.Select(c => RunStream(model, c, frames, height, width)).ToArray();
        double aloneSeconds = clock.Elapsed.TotalSeconds;
        long onePeak = device.Memory.PeakBytes - before;
        log.WriteLine($"{sessions} streams one after another: {aloneSeconds:F2} s");

        device.Memory.ResetPeak();
        var results = new (float[] Mean, float[] Video)[sessions];
        var errors = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        clock.Restart();
        var threads = Enumerable.Range(0, sessions).Select(i => new Thread(() =>
        {
            try { results[i] = RunStream(model, clips[i], frames, height, width); }
            catch (Exception e) { errors.Enqueue(e); }
        })).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();
        double seconds = clock.Elapsed.TotalSeconds;
        if (errors.TryDequeue(out var error)) throw error;
        long concurrentPeak = device.Memory.PeakBytes - before;
        log.WriteLine($"{sessions} streams at once: {seconds:F2} s");

        bool identical = alone.Zip(results).All(p => p.First.Mean.AsSpan().SequenceEqual(p.Second.Mean) && p.First.Video.AsSpan().SequenceEqual(p.Second.Video));
        return new Result(sessions, frames, height, width, identical, seconds, aloneSeconds, model.WeightBytes, onePeak, concurrentPeak);
    }

    /// <summary>A moving gradient per seed, in [−1, 1], frame-major [T][3][H][W]: different clips for different streams.</summary>
    private static float[] SyntheticClip(int frames, int h, int w, int seed)
    {
        var v = new float[frames * 3 * h * w];
        for (int t = 0, i = 0; t < frames; t++)
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++, i++)
                        v[i] = (float)Math.Sin(0.21 * x * (c + 1) + 0.17 * y - 0.3 * t + 1.3 * seed) * 0.8f;
        return v;
    }

    public static string Report(Result r, string modelName)
    {
        static string MiB(long b) => $"{b / 1048576.0:F1} MiB";
        var sb = new StringBuilder();
        sb.AppendLine($"model: {modelName} ({MiB(r.WeightBytes)} of weights)");
        sb.AppendLine($"streams: {r.Sessions} concurrent encode+decode streams of different {r.Frames}x{r.Height}x{r.Width} clips on one model, one thread each");
        sb.AppendLine($"bit-identical to single-session runs: {(r.BitIdentical ? "yes" : "no")}");
        sb.AppendLine($"aggregate throughput: {r.FramesPerSecond:F1} frames/s encoded and decoded ({r.Sessions} x {r.Frames} frames in {r.Seconds:F2} s; one after another: {r.Sessions * r.Frames / r.AloneSeconds:F1} frames/s)");
        sb.AppendLine($"device memory: {MiB(r.ConcurrentPeakBytes)} peak for {r.Sessions} streams on one model (weights {MiB(r.WeightBytes)} + {r.Sessions} x state); " +
                      $"{r.Sessions} separate models: {MiB(r.SeparateModelsBytes)} ({r.Sessions} x {MiB(r.OneStreamPeakBytes)})");
        return sb.ToString();
    }
}

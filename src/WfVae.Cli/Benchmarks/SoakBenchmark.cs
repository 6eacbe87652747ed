using System.Diagnostics;
using System.Globalization;
using System.IO.Pipelines;
using System.Text;
using WfVae.Model;
using WfVae.Streaming;
using WfVae.Streaming.LatentStream;

namespace WfVae.Cli.Benchmarks;

/// <summary>
/// bench soak: a long stream through the same path the CLI takes (raw RGB24 frames through a pipe into
/// StreamingEncoder; encode writes a .wfl, recon feeds the latents on into StreamingDecoder and converts
/// the frames back to bytes), sampling the process's resident memory and the device pool every second.
/// The figure that matters is the slope: bytes per frame after the first 100 frames, by least squares;
/// memory flat in stream length means a slope near 0. The managed heap is sampled beside the RSS (objects not yet
/// collected included) with the bytes allocated and the collections so far, so growth can be told apart: managed
/// garbage the collector has not reached yet, managed objects kept alive, or native memory (RSS minus what the
/// collector has committed).
/// </summary>
internal static class SoakBenchmark
{
    public sealed record Sample(double Seconds, long Frames, long RssBytes, long DeviceBytes,
        long ManagedBytes, long GcCommittedBytes, long AllocatedBytes, int Collections)
    {
        /// <summary>Now, in the process: the managed figures are the whole process's (the soak runs alone in it).</summary>
        public static Sample Take(double seconds, long frames, long deviceBytes) => new(seconds, frames, Environment.WorkingSet, deviceBytes,
            GC.GetTotalMemory(false), GC.GetGCMemoryInfo().TotalCommittedBytes, GC.GetTotalAllocatedBytes(false), GC.CollectionCount(0));
    }

    public sealed record Result(string Direction, long Frames, double Seconds, List<Sample> Samples)
    {
        private IEnumerable<Sample> Settled => Samples.Where(s => s.Frames >= 100);
        public double RssSlope => Slope(Settled.Select(s => ((double)s.Frames, (double)s.RssBytes)));
        public double DeviceSlope => Slope(Settled.Select(s => ((double)s.Frames, (double)s.DeviceBytes)));
        public double ManagedSlope => Slope(Settled.Select(s => ((double)s.Frames, (double)s.ManagedBytes)));
        /// <summary>
        /// Host memory besides the managed heap (native allocations, code, mapped files, and heap memory the collector
        /// keeps committed but empty). Not RSS minus <see cref="Sample.GcCommittedBytes"/>: that figure changes only
        /// when a collection runs, which may be once in a whole run.
        /// </summary>
        public double NativeSlope => Slope(Settled.Select(s => ((double)s.Frames, (double)(s.RssBytes - s.ManagedBytes))));
        /// <summary>Managed bytes allocated per frame (garbage included): what the collector has to clean up.</summary>
        public double AllocatedPerFrame => Slope(Settled.Select(s => ((double)s.Frames, (double)s.AllocatedBytes)));
        /// <summary>Collections (of any generation) during the run.</summary>
        public int Collections => Samples.Count < 2 ? 0 : Samples[^1].Collections - Samples[0].Collections;
        public long PeakRss => Samples.Count == 0 ? 0 : Samples.Max(s => s.RssBytes);
        public long PeakManaged => Samples.Count == 0 ? 0 : Samples.Max(s => s.ManagedBytes);
        public long PeakDevice => Samples.Count == 0 ? 0 : Samples.Max(s => s.DeviceBytes);
    }

    public static Result Run(WfVaeModel model, string direction, long frames, int width, int height, TextWriter progress)
    {
        var format = new RawFrameFormat(RawPixelFormat.Rgb24, width, height, 30, 1);
        // As the CLI's encode to .wfl and recon do: each chunk is consumed before the next, so its arrays are recycled.
        var encoder = new StreamingEncoder(model, format, chunk: 4, FramePolicy.Pad) { RecycleLatents = true };
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 4L * format.FrameBytes, resumeWriterThreshold: format.FrameBytes));
        var producer = Task.Run(() => Produce(pipe.Writer, format, frames));
        var clock = Stopwatch.StartNew();
        var samples = new List<Sample> { Sample.Take(0, 0, model.Device.Memory.CurrentBytes) };
        long done = 0;
        using var sampler = new Timer(_ =>
        {
            var s = Sample.Take(clock.Elapsed.TotalSeconds, Interlocked.Read(ref done), model.Device.Memory.CurrentBytes);
            lock (samples) samples.Add(s);
            if (samples.Count % 30 == 0)
                progress.WriteLine($"bench soak {direction}: {s.Frames} frames, RSS {s.RssBytes / 1048576.0:F1} MiB, managed {s.ManagedBytes / 1048576.0:F1} MiB, device {s.DeviceBytes / 1048576.0:F1} MiB");
        }, null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));

        var latents = encoder.EncodeAsync(pipe.Reader);
        if (direction == "encode") Encode(model, format, latents, () => encoder.FramesIn, n => Interlocked.Exchange(ref done, n));
        else Recon(model, format, latents, () => Interlocked.Exchange(ref done, encoder.FramesIn));
        producer.GetAwaiter().GetResult();
        sampler.Dispose();
        lock (samples) return new Result(direction, Interlocked.Read(ref done), clock.Elapsed.TotalSeconds, samples.ToList());
    }

    /// <summary>A moving gradient, one frame at a time, as a capture process would write them.</summary>
    private static async Task Produce(PipeWriter writer, RawFrameFormat format, long frames)
    {
        for (long t = 0; t < frames; t++)
        {
            var span = writer.GetSpan(format.FrameBytes)[..format.FrameBytes];
            for (int i = 0; i < span.Length; i++) span[i] = (byte)((i / 3 % format.Width * 4 + t * 3 + i % 3 * 60) & 0xFF);
            writer.Advance(format.FrameBytes);
            if ((await writer.FlushAsync()).IsCompleted) break;
        }
        await writer.CompleteAsync();
    }

    private static void Encode(WfVaeModel model, RawFrameFormat format, IAsyncEnumerable<LatentFrames> latents, Func<long> framesIn, Action<long> report)
    {
        var path = Path.Combine(Path.GetTempPath(), $"wfvae-soak-{Environment.ProcessId}.wfl");
        var header = LatentStreamHeader.For(model.Config, model.WeightsHash, format.Height, format.Width, 30, 1, LatentStreamHeader.PolicyPad);
        try
        {
            using var writer = LatentStreamWriter.Create(path, header);
            var consume = Task.Run(async () =>
            {
                await foreach (var l in latents)
                {
                    writer.WriteChunk(l);
                    report(framesIn());
                }
            });
            consume.GetAwaiter().GetResult();
        }
        finally
        {
            foreach (var f in WfVae.IO.OutputFile.TemporariesOf(path).Append(path)) File.Delete(f);
        }
    }

    private static void Recon(WfVaeModel model, RawFrameFormat format, IAsyncEnumerable<LatentFrames> latents, Action report)
    {
        using var decoder = new StreamingDecoder(model, format.Height / 8, format.Width / 8, 1);
        var bytes = new byte[format.FrameBytes];
        var consume = Task.Run(async () =>
        {
            await foreach (var v in decoder.DecodeAsync(latents))
            {
                for (int i = 0; i < v.Frames; i++)
                    format.FromModel(v.Data.AsSpan(i * format.FrameElements, format.FrameElements), bytes);
                report();
            }
        });
        consume.GetAwaiter().GetResult();
    }

    /// <summary>Least-squares slope of y over x (0 with fewer than two points).</summary>
    private static double Slope(IEnumerable<(double X, double Y)> points)
    {
        var p = points.ToList();
        if (p.Count < 2) return 0;
        double mx = p.Average(q => q.X), my = p.Average(q => q.Y);
        double sxx = p.Sum(q => (q.X - mx) * (q.X - mx)), sxy = p.Sum(q => (q.X - mx) * (q.Y - my));
        return sxx == 0 ? 0 : sxy / sxx;
    }

    public static string ToMarkdown(IReadOnlyList<Result> results, string model, int width, int height, string device)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"Model `{model}`, {width}x{height} RGB24 frames through a pipe, chunk 4, device {device}; samples every second, slopes by least squares over the samples after frame 100. " +
            "Managed: the collector's heap, objects not yet collected included; native: RSS minus the managed heap; allocated: managed bytes allocated per frame; GCs: collections during the run.");
        sb.AppendLine();
        sb.AppendLine("| direction | frames | seconds | samples | peak RSS (MiB) | RSS slope (bytes/frame) | peak managed (MiB) | managed slope (bytes/frame) | native slope (bytes/frame) | allocated (bytes/frame) | GCs | peak device (MiB) | device slope (bytes/frame) |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in results)
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Direction} | {r.Frames} | {r.Seconds:F0} | {r.Samples.Count} | {r.PeakRss / 1048576.0:F1} | {r.RssSlope:F1} | {r.PeakManaged / 1048576.0:F1} | {r.ManagedSlope:F1} | {r.NativeSlope:F1} | {r.AllocatedPerFrame:F0} | {r.Collections} | {r.PeakDevice / 1048576.0:F1} | {r.DeviceSlope:F1} |"));
        return sb.ToString();
    }
}

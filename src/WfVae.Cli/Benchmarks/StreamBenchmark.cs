using System.Diagnostics;
using System.IO.Pipelines;
using System.Runtime.InteropServices;
using System.Text;
using WfVae.Model;
using WfVae.Model.Checkpoint;
using WfVae.Runtime;
using WfVae.Streaming;

namespace WfVae.Cli.Benchmarks;

/// <summary>
/// Streaming figures on a small random model: per-chunk latency and throughput at steady state for a few
/// chunk sizes, and peak device memory against stream length (encode and decode chained through a pipe,
/// as a live transcoder runs them). Produces the Markdown tables of docs/streaming.md.
/// </summary>
public static class StreamBenchmark
{
    /// <summary>base 8, latent 4, one ResnetBlock per stage, attention on, LayerNorm, trilinear.</summary>
    public static readonly WfVaeConfig Config = new()
    {
        BaseChannels = 8,
        LatentDim = 4,
        EncoderEnergyFlowHiddenSize = 8,
        DecoderEnergyFlowHiddenSize = 8,
        EncoderNumResBlocks = 1,
        DecoderNumResBlocks = 1,
        NormType = NormType.LayerNorm,
        TemporalInterpolation = TemporalInterpolation.Trilinear,
    };

    public const int Size = 16;

    public static string Run(VulkanDevice d, TextWriter log, bool quick)
    {
        var dir = Directory.CreateTempSubdirectory("wfvae-bench-stream-").FullName;
        try
        {
            RandomCheckpoint.Write(Config, dir, seed: 1);
            using var model = WfVaeModel.Load(dir, d);
            var md = new StringBuilder();
            md.AppendLine($"Device: {d.Info.Name}. Model: random weights, base_channels 8, latent_dim 4, energy flow 8/8, one ResnetBlock per stage, attention, LayerNorm, trilinear ({model.WeightBytes / 1024.0:F0} KiB of weights). Frames {Size}x{Size}, planar float32 through a System.IO.Pipelines pipe.");
            md.AppendLine();

            // Steady state: a 1 + 4·24 frame stream; the first two pushes (cache set-up) and the last are left out.
            int frames = quick ? 49 : 97;
            md.AppendLine($"### Per-chunk latency at steady state ({frames}-frame stream)");
            md.AppendLine();
            md.AppendLine("| stage | chunk | median latency per chunk (ms) | p90 (ms) | throughput (frames/s) |");
            md.AppendLine("|---|---:|---:|---:|---:|");
            foreach (int chunk in new[] { 4, 8, 12 })
            {
                var (enc, _) = Pipeline(model, frames, chunk, 1, encodeOnly: true);
                md.AppendLine(Row("encode", $"{chunk} frames", enc, perFrame: 1));
                log.WriteLine($"encode chunk {chunk}: done");
            }
            var latents = Encode(model, frames);
            foreach (int chunk in new[] { 1, 2, 3 })
            {
                var dec = DecodeOnly(model, latents, chunk);
                md.AppendLine(Row("decode", $"{chunk} latent{(chunk > 1 ? "s" : "")}", dec, perFrame: 4));
                log.WriteLine($"decode chunk {chunk}: done");
            }
            md.AppendLine();
            md.AppendLine("Throughput counts video frames (decode: 4 per latent) over the steady-state chunks only.");
            md.AppendLine();

            md.AppendLine("### Peak device memory against stream length (encode chunk 4 → decode chunk 1, chained)");
            md.AppendLine();
            md.AppendLine("| frames | latents | peak device bytes | of which stream state (above the weights) | wall time (s) | frames/s end to end |");
            md.AppendLine("|---:|---:|---:|---:|---:|---:|");
            foreach (int n in quick ? new[] { 33, 330 } : new[] { 33, 330, 3300 })
            {
                var clock = Stopwatch.StartNew();
                var (enc, dec) = Pipeline(model, n, 4, 1, encodeOnly: false);
                double s = clock.Elapsed.TotalSeconds;
                long peak = Math.Max(enc.PeakDeviceBytes, dec!.PeakDeviceBytes);
                md.AppendLine($"| {n} | {enc.FramesOut} | {peak:N0} | {peak - model.WeightBytes:N0} | {s:F1} | {n / s:F1} |");
                log.WriteLine($"{n} frames: peak {peak:N0} B in {s:F1} s");
            }
            return md.ToString();
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static string Row(string stage, string chunk, StreamStats s, int perFrame)
    {
        var steady = s.Chunks.Skip(2).SkipLast(1).ToList();
        var ms = steady.Select(c => c.LatencyMs).OrderBy(x => x).ToList();
        double median = ms[(ms.Count - 1) / 2], p90 = ms[(int)Math.Ceiling(0.9 * (ms.Count - 1))];
        double fps = steady.Sum(c => perFrame == 1 ? c.FramesIn : WfVaeConfig.TemporalCompression * c.FramesIn) / (steady.Sum(c => c.LatencyMs) / 1000);
        return $"| {stage} | {chunk} | {median:F1} | {p90:F1} | {fps:F1} |";
    }

    private static float[] Frame(int i)
    {
        var f = new float[3 * Size * Size];
        for (int k = 0; k < f.Length; k++) f[k] = MathF.Sin(0.05f * k + 0.3f * i) * 0.8f;
        return f;
    }

    private static Task Produce(PipeWriter w, int frames) => Task.Run(async () =>
    {
        for (int i = 0; i < frames; i++)
        {
            var bytes = MemoryMarshal.AsBytes(Frame(i).AsSpan());
            bytes.CopyTo(w.GetSpan(bytes.Length));
            w.Advance(bytes.Length);
            if ((await w.FlushAsync()).IsCompleted) break;
        }
        await w.CompleteAsync();
    });

    private static (StreamStats Enc, StreamStats? Dec) Pipeline(WfVaeModel model, int frames, int encChunk, int decChunk, bool encodeOnly)
    {
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 16 * 12 * Size * Size, resumeWriterThreshold: 8 * 12 * Size * Size));
        var producer = Produce(pipe.Writer, frames);
        var encoder = new StreamingEncoder(model, new RawFrameFormat(RawPixelFormat.PlanarFloat32, Size, Size), encChunk);
        StreamStats? dec = null;
        if (encodeOnly)
        {
            Task.Run(async () => { await foreach (var _ in encoder.EncodeAsync(pipe.Reader)) { } }).GetAwaiter().GetResult();
        }
        else
        {
            using var decoder = new StreamingDecoder(model, WfVaeConfig.LatentSize(Size), WfVaeConfig.LatentSize(Size), decChunk, frames);
            Task.Run(async () => { await foreach (var _ in decoder.DecodeAsync(encoder.EncodeAsync(pipe.Reader))) { } }).GetAwaiter().GetResult();
            dec = decoder.Stats;
        }
        producer.GetAwaiter().GetResult();
        return (encoder.Stats!, dec);
    }

    private static List<LatentFrames> Encode(WfVaeModel model, int frames)
    {
        var pipe = new Pipe();
        var producer = Produce(pipe.Writer, frames);
        var encoder = new StreamingEncoder(model, new RawFrameFormat(RawPixelFormat.PlanarFloat32, Size, Size), 4);
        var list = Task.Run(async () =>
        {
            var l = new List<LatentFrames>();
            await foreach (var c in encoder.EncodeAsync(pipe.Reader)) l.Add(c);
            return l;
        }).GetAwaiter().GetResult();
        producer.GetAwaiter().GetResult();
        return list;
    }

    private static StreamStats DecodeOnly(WfVaeModel model, List<LatentFrames> latents, int chunk)
    {
        using var decoder = new StreamingDecoder(model, WfVaeConfig.LatentSize(Size), WfVaeConfig.LatentSize(Size), chunk);
        foreach (var c in latents)
            for (int i = 0; i < c.Frames; i++)
            {
                int size = c.Mean.Length / c.Frames;
                decoder.Push(c.Mean.AsSpan(i * size, size), 1);
            }
        decoder.Complete();
        return decoder.Stats;
    }
}

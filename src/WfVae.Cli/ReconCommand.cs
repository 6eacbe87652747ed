using System.Collections.Concurrent;
using System.Text.Json;
using WfVae.Media;
using WfVae.Model.Checkpoint;
using WfVae.Streaming;

namespace WfVae.Cli;

/// <summary>
/// wfvae recon: video in (a file, URL or raw frames), encode → decode chunk by chunk, video out (a file
/// or raw frames), and PSNR / SSIM of each output frame against its input frame. Frames flow through
/// StreamingEncoder into StreamingDecoder; nothing holds the clip: the only frames kept are the inputs
/// still inside the VAE (a chunk plus the decoder's look-ahead plus what the pipe buffers), waiting
/// in a queue for their decoded frame.
/// </summary>
internal static class ReconCommand
{
    public static int Run(Options o, TextWriter stdout, TextWriter stderr) => RunAsync(o, stdout, stderr).GetAwaiter().GetResult();

    private static async Task<int> RunAsync(Options o, TextWriter stdout, TextWriter stderr)
    {
        var input = o.Require("--input");
        // A raw pipe filter writes to stdout unless told otherwise: `... | wfvae recon --raw 256x256@24 - | ffmpeg ...`.
        var output = o.Get("--output") ?? (o.Has("--raw") ? "-" : throw new UsageException("--output is required"));
        var messages = StreamOptions.IsStdout(output) ? stderr : stdout;
        long? maxFrames = StreamOptions.MaxFrames(o);

        using var source = FrameSource.Open(o, input, stderr, "recon");
        var size = source.ModelSize(o);
        using var model = ModelCommands.LoadModel(o);
        int chunk = StreamOptions.Chunk(o, model.Config, streamingDefault: 4);
        var policy = StreamOptions.Policy(o);
        var f = source.Format;
        var encoder = new StreamingEncoder(model, new RawFrameFormat(f.Pixel, size.Width, size.Height, f.FpsNumerator, f.FpsDenominator), chunk, policy);
        using var decoder = new StreamingDecoder(model, WfVaeConfig.LatentSize(size.Height), WfVaeConfig.LatentSize(size.Width), chunk == 0 ? 0 : 1);
        using var sink = FrameSink.Create(o, output, o.Has("--raw") ? f.Pixel : null, f.Width, f.Height, (f.FpsNumerator, f.FpsDenominator));

        var inputs = new ConcurrentQueue<byte[]>();
        var progress = new Progress(o, stderr, "recon", maxFrames is { } m && source.TotalFrames is { } t ? Math.Min(m, t) : maxFrames ?? source.TotalFrames);
        double sumMse = 0, sumSsim = 0;
        long compared = 0;
        bool ssim = f.Width >= 11 && f.Height >= 11; // the SSIM window is 11x11

        var latents = encoder.EncodeAsync(source.Pump(size, maxFrames, inputs));
        await foreach (var v in decoder.DecodeAsync(latents))
        {
            int fe = 3 * size.Width * size.Height;
            for (int i = 0; i < v.Frames; i++)
            {
                // Padding frames (pad policy) come after the last input frame: no input left to pair with.
                if (!inputs.TryDequeue(out var original)) continue;
                var written = sink.Write(v.Data.AsSpan(i * fe, fe), size.Width, size.Height);
                var a = FrameSink.ToRgb24(original, f);
                var b = FrameSink.ToRgb24(written, f);
                sumMse += ImageMetrics.Mse(a, b);
                if (ssim) sumSsim += ImageMetrics.Ssim(a, b, f.Width, f.Height);
                compared++;
                progress.Update(compared);
            }
        }
        progress.Done(compared);
        if (source.Error != null) throw source.Error;
        if (compared == 0) throw new InvalidDataException($"'{source.Name}': no frames came out (the input had {encoder.FramesIn}; policy drop needs at least 1)");
        sink.Complete();

        var es = encoder.Stats!;
        double psnr = ImageMetrics.PsnrFromMse(sumMse / compared), meanSsim = ssim ? sumSsim / compared : double.NaN;
        if (o.Get("--stats") is { } statsPath)
            File.WriteAllText(statsPath, JsonSerializer.Serialize(new Dictionary<string, object?>
            {
                ["frames_in"] = encoder.FramesIn,
                ["frames_out"] = compared,
                ["padded_frames"] = es.PaddedFrames,
                ["dropped_frames"] = es.DroppedFrames,
                ["psnr_db"] = double.IsFinite(psnr) ? psnr : null,
                ["ssim"] = ssim ? meanSsim : null,
                ["encode"] = es,
                ["decode"] = decoder.Stats,
            }, new JsonSerializerOptions { WriteIndented = true }) + "\n");

        if (!o.Has("--quiet"))
        {
            messages.WriteLine($"recon {source.Description} -> {sink.Description}: {encoder.FramesIn} frames in, {compared} out (chunk {(chunk == 0 ? "whole clip" : chunk)}{StreamOptions.PolicyNote(es)})");
            messages.WriteLine($"PSNR {(double.IsFinite(psnr) ? psnr.ToString("F2") : "inf")} dB, SSIM {(ssim ? meanSsim.ToString("F4") : "n/a (frames under 11x11)")} (mean over {compared} frames)");
        }
        return 0;
    }
}

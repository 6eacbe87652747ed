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
        var output = StreamOptions.FramesOutput(o) ?? throw new UsageException("--output is required");
        var messages = StreamOptions.MessageWriter(o, stdout, stderr, output);
        // Here --raw describes the input, so decode's "--raw rgb24 to stdout" advice does not apply.
        if (StreamOptions.IsStdout(output) && !o.Has("--raw"))
            throw new UsageException("recon writes frames to stdout only for raw input frames, in their layout: " +
                                     "ffmpeg -i in.mp4 -f rawvideo -pix_fmt rgb24 - | wfvae recon --raw WxH@FPS - -");
        long? maxFrames = StreamOptions.MaxFrames(o);

        using var statsFile = StreamOptions.StartStats(o);
        using var source = FrameSource.Open(o, input, stderr, "recon");
        var size = source.ModelSize(o);
        using var model = ModelCommands.LoadModel(o, stderr, "recon");
        int chunk = StreamOptions.Chunk(o, model.Config, streamingDefault: 4, videoFrames: true);
        var policy = StreamOptions.Policy(o);
        var f = source.Format;
        // The decoder copies each latent chunk before it asks for the next, so the encoder may recycle their arrays.
        var encoder = new StreamingEncoder(model, new RawFrameFormat(f.Pixel, size.Width, size.Height, f.FpsNumerator, f.FpsDenominator), chunk, policy)
        {
            RecycleLatents = true,
        };
        using var decoder = new StreamingDecoder(model, WfVaeConfig.LatentSize(size.Height), WfVaeConfig.LatentSize(size.Width), chunk == 0 ? 0 : 1);
        using var sink = FrameSink.Create(o, output, RawOutput(o, output) ? f.Pixel : null, f.Width, f.Height, (f.FpsNumerator, f.FpsDenominator));

        var progress = new Progress(o, stderr, "recon", maxFrames is { } m && source.TotalFrames is { } t ? Math.Min(m, t) : maxFrames ?? source.TotalFrames);
        var metrics = new Metrics(f, sink.Format);
        await Stream(source, size, maxFrames, encoder, decoder, sink, metrics, progress);
        progress.Done(metrics.Compared);
        if (source.Error != null) throw source.Error;
        if (metrics.Compared == 0) throw new InvalidDataException($"'{source.Name}': no frames came out (the input had {encoder.FramesIn}; policy drop needs at least 1)");
        sink.Complete();

        if (statsFile != null) WriteStats(statsFile, encoder, decoder, metrics);
        if (!o.Has("--quiet"))
        {
            messages.WriteLine($"recon {source.Description} -> {sink.Description}: {encoder.FramesIn} frames in, {metrics.Compared} out (chunk {(chunk == 0 ? "whole clip" : chunk)}{StreamOptions.PolicyNote(encoder.Stats!)})");
            messages.WriteLine($"PSNR {(double.IsFinite(metrics.Psnr) ? metrics.Psnr.ToString("F2") : "inf")} dB, SSIM {(metrics.HasSsim ? metrics.Ssim.ToString("F4") : "n/a (frames under 11x11)")} (mean over {metrics.Compared} frames)");
        }
        return 0;
    }

    /// <summary>
    /// Frames from the source through the encoder into the decoder and out to the sink, each output frame scored against
    /// its input frame, which waits in a queue while it is inside the VAE.
    /// </summary>
    private static async Task Stream(FrameSource source, (int Width, int Height) size, long? maxFrames, StreamingEncoder encoder,
        StreamingDecoder decoder, FrameSink sink, Metrics metrics, Progress progress)
    {
        var inputs = new ConcurrentQueue<byte[]>();
        var latents = encoder.EncodeAsync(source.Pump(size, maxFrames, inputs));
        int fe = 3 * size.Width * size.Height;
        try
        {
            await foreach (var v in decoder.DecodeAsync(latents))
            {
                for (int i = 0; i < v.Frames; i++)
                {
                    // Padding frames (pad policy) come after the last input frame: no input left to pair with.
                    if (!inputs.TryDequeue(out var original)) continue;
                    metrics.Add(original, sink.Write(v.Data.AsSpan(i * fe, fe), size.Width, size.Height));
                    progress.Update(metrics.Compared);
                }
            }
        }
        catch (InvalidDataException) when (source.Error != null)
        {
            throw source.Error; // the encoder met the cut the failing source left; the source's error is the cause
        }
    }

    private static void WriteStats(WfVae.IO.OutputFile file, StreamingEncoder encoder, StreamingDecoder decoder, Metrics metrics)
    {
        var es = encoder.Stats!;
        StreamOptions.CompleteJson(file, JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["frames_in"] = encoder.FramesIn,
            ["frames_out"] = metrics.Compared,
            ["padded_frames"] = es.PaddedFrames,
            ["dropped_frames"] = es.DroppedFrames,
            ["psnr_db"] = double.IsFinite(metrics.Psnr) ? metrics.Psnr : null,
            ["ssim"] = metrics.HasSsim ? metrics.Ssim : null,
            ["encode"] = es,
            ["decode"] = decoder.Stats,
        }, new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>
    /// PSNR of the mean per-frame MSE and mean SSIM over the frames compared so far, between input frames in
    /// <paramref name="format"/> and written frames in <paramref name="outputFormat"/> (planar floats in, a video file out).
    /// </summary>
    private sealed class Metrics(RawFrameFormat format, RawFrameFormat outputFormat)
    {
        private double _sumMse, _sumSsim;

        public long Compared { get; private set; }
        public bool HasSsim { get; } = format.Width >= 11 && format.Height >= 11; // the SSIM window is 11x11
        public double Psnr => ImageMetrics.PsnrFromMse(_sumMse / Compared);
        public double Ssim => HasSsim ? _sumSsim / Compared : double.NaN;

        public void Add(byte[] original, ReadOnlySpan<byte> written)
        {
            var a = FrameSink.ToRgb24(original, format);
            var b = FrameSink.ToRgb24(written, outputFormat);
            _sumMse += ImageMetrics.Mse(a, b);
            if (HasSsim) _sumSsim += ImageMetrics.Ssim(a, b, format.Width, format.Height);
            Compared++;
        }
    }

    /// <summary>
    /// Raw frames in the input's layout for a raw input, unless the output names a video container
    /// (`--raw 64x64@24 - out.mp4` writes an MP4); stdout, FIFOs and devices get raw frames.
    /// </summary>
    private static bool RawOutput(Options o, string output)
    {
        if (!o.Has("--raw")) return false;
        if (output == "-" || WfVae.IO.FileKinds.IsStreamLike(WfVae.IO.FileKinds.Of(output))) return true;
        try { return !VideoWriter.HasContainerFor(output); }
        catch (MediaException)
        {
            // No FFmpeg: a container name still must not receive raw bytes; writing it then fails clearly.
            return Path.GetExtension(output).ToLowerInvariant() is not (".mp4" or ".mkv" or ".mov" or ".webm" or ".avi" or ".ts" or ".m4v" or ".flv" or ".mpg" or ".gif");
        }
    }
}

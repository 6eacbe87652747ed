using System.Diagnostics;
using System.Globalization;
using WfVae.Media;
using WfVae.Model;
using WfVae.Model.Checkpoint;
using WfVae.Runtime;
using WfVae.Streaming;

namespace WfVae.Demo;

/// <summary>One encoder push and the decoder push that consumed its latents.</summary>
public sealed record ChunkTiming(int Index, int FramesIn, int LatentsOut, double EncodeMs, int FramesOut, double DecodeMs)
{
    /// <summary>The decoder's flush (no input frames): it returns the frames held back for look-ahead.</summary>
    public bool IsFlush => FramesIn == 0;
}

/// <summary>What streaming the clip through one device gave: figures, latents, reconstruction, or the error.</summary>
public sealed class DeviceResult
{
    public required PhysicalDeviceInfo Info { get; init; }
    public string? Error { get; set; }
    public bool Ok => Error == null;
    public double LoadMs { get; set; }
    public long WeightBytes { get; set; }
    /// <summary>Device memory high-water mark while streaming (weights included).</summary>
    public long PeakBytes { get; set; }
    public List<ChunkTiming> Chunks { get; } = new();
    /// <summary>Latent means of the whole clip, frame-major [t][L][h][w].</summary>
    public float[] Latents { get; set; } = [];
    public int LatentFrames { get; set; }
    /// <summary>Decoded frames, frame-major [T][3][H][W], not clamped.</summary>
    public float[] Decoded { get; set; } = [];
    public int DecodedFrames { get; set; }
    /// <summary>The reconstruction as RGB24 frames (decoded values clamped to [-1, 1]).</summary>
    public IReadOnlyList<byte[]> Reconstruction { get; set; } = [];
    public double Psnr { get; set; } = double.NaN;
    public double Ssim { get; set; } = double.NaN;
    public IReadOnlyList<string> ValidationErrors { get; set; } = [];

    public double EncodeMs => Chunks.Sum(c => c.EncodeMs);
    public double DecodeMs => Chunks.Sum(c => c.DecodeMs);
    public int FramesIn => Chunks.Sum(c => c.FramesIn);
    public double EncodeFps => FramesIn / (EncodeMs / 1000.0);
    public double DecodeFps => DecodedFrames / (DecodeMs / 1000.0);
    /// <summary>Frames through encode and decode per second of both together.</summary>
    public double EndToEndFps => FramesIn / ((EncodeMs + DecodeMs) / 1000.0);
    public string Label => $"[{Info.Index}] {Info.Name}";
}

/// <summary>Streams a clip through encode and decode on one device, the way a live pipeline would.</summary>
public static class DeviceRun
{
    /// <summary>
    /// Loads the model on the device, then pushes the first frame alone and then <paramref name="chunk"/>
    /// frames at a time into the encoder (<see cref="ChunkPolicy"/>); each push's latents go straight into the decoder, which is
    /// flushed at the end. Any failure is caught and recorded in the result: one broken device must not
    /// hide the others' figures.
    /// </summary>
    public static DeviceResult Run(PhysicalDeviceInfo info, string modelPath, RgbClip clip, int chunk, TextWriter log)
    {
        var result = new DeviceResult { Info = info };
        try
        {
            Stream(result, modelPath, clip, chunk, log);
        }
        catch (Exception e)
        {
            result.Error = $"{e.GetType().Name}: {e.Message}";
            log.WriteLine($"  failed: {result.Error}");
        }
        return result;
    }

    private static void Stream(DeviceResult result, string modelPath, RgbClip clip, int chunk, TextWriter log)
    {
        var options = new DeviceOptions { Selector = result.Info.Index.ToString(CultureInfo.InvariantCulture), Log = line => log.WriteLine($"  {line}") };
        using var device = VulkanDevice.Create(options);
        try
        {
            var load = Stopwatch.StartNew();
            // fp32 on every device, whatever its default: the report compares latents across devices at the fp32
            // bound, which fp16 storage (rel_err ~5e-3) would exceed on a correct device.
            using var model = WfVaeModel.Load(modelPath, device, precision: Precision.Fp32);
            result.LoadMs = load.Elapsed.TotalMilliseconds;
            result.WeightBytes = model.WeightBytes;
            log.WriteLine($"  model loaded in {result.LoadMs:F0} ms ({Report.Bytes(model.WeightBytes)} of weights)");

            int n = clip.Frames.Count, h = clip.Height, w = clip.Width;
            int latentSize = model.Config.LatentDim * WfVaeConfig.LatentSize(h) * WfVaeConfig.LatentSize(w);
            device.Memory.ResetPeak();
            var (latents, decoded) = Push(result, model, clip, chunk);
            result.PeakBytes = device.Memory.PeakBytes;
            result.Latents = latents.ToArray();
            result.LatentFrames = result.Latents.Length / latentSize;
            result.Decoded = decoded.ToArray();
            result.DecodedFrames = result.Decoded.Length / (3 * h * w);
            if (result.DecodedFrames != n)
                throw new InvalidOperationException($"the decoder returned {result.DecodedFrames} frames for {n} input frames");
            int frameSize = 3 * h * w;
            result.Reconstruction = Enumerable.Range(0, n)
                .Select(f => FrameConversion.ToRgb24(result.Decoded.AsSpan(f * frameSize, frameSize), w, h)).ToList();
            result.Psnr = ImageMetrics.MeanPsnr(clip.Frames, result.Reconstruction);
            // SSIM's 11x11 window needs frames at least that large.
            if (w >= 11 && h >= 11) result.Ssim = ImageMetrics.MeanSsim(clip.Frames, result.Reconstruction, w, h);
            log.WriteLine($"  encode {result.EncodeFps:F1} frames/s, decode {result.DecodeFps:F1} frames/s, peak {Report.Bytes(result.PeakBytes)}, PSNR {result.Psnr:F2} dB");
        }
        finally
        {
            result.ValidationErrors = device.ValidationErrors.ToList();
        }
        if (result.ValidationErrors.Count > 0)
            result.Error = $"{result.ValidationErrors.Count} Vulkan validation error(s), first: {result.ValidationErrors[0]}";
    }

    /// <summary>Streams the clip through an encoder and a decoder as the demo pushes it, timing every push into <paramref name="result"/>.</summary>
    private static (List<float> Latents, List<float> Decoded) Push(DeviceResult result, WfVaeModel model, RgbClip clip, int chunk)
    {
        int n = clip.Frames.Count, h = clip.Height, w = clip.Width;
        int lh = WfVaeConfig.LatentSize(h), lw = WfVaeConfig.LatentSize(w);
        var latents = new List<float>();
        var decoded = new List<float>();
        using var encoder = model.OpenEncoder(h, w);
        using var decoder = model.OpenDecoder(lh, lw);
        foreach (var (pos, count) in ChunkPolicy.Pushes(n, chunk))
        {
            float[] input = FrameConversion.ToPlanar(clip.Frames.Skip(pos).Take(count).ToList(), w, h);
            var sw = Stopwatch.StartNew();
            var z = encoder.Push(input, count);
            double encodeMs = sw.Elapsed.TotalMilliseconds;
            latents.AddRange(z.Mean);
            int framesOut = 0;
            double decodeMs = 0;
            if (z.Frames > 0)
            {
                sw.Restart();
                var video = decoder.Push(z.Mean, z.Frames, last: false);
                decodeMs = sw.Elapsed.TotalMilliseconds;
                decoded.AddRange(video.Data);
                framesOut = video.Frames;
            }
            result.Chunks.Add(new ChunkTiming(result.Chunks.Count, count, z.Frames, encodeMs, framesOut, decodeMs));
        }
        var flushTimer = Stopwatch.StartNew();
        var rest = decoder.Flush();
        double flushMs = flushTimer.Elapsed.TotalMilliseconds;
        decoded.AddRange(rest.Data);
        result.Chunks.Add(new ChunkTiming(result.Chunks.Count, 0, 0, 0, rest.Frames, flushMs));
        return (latents, decoded);
    }
}

using WfVae.Model;
using WfVae.Model.Checkpoint;
using WfVae.Streaming;
using WfVae.Streaming.LatentStream;

namespace WfVae.Cli;

/// <summary>
/// wfvae decode: latents in (a .wfl latent stream, or a safetensors tensor [N,L,t,h,w]), streamed through
/// the decoder --chunk latent frames at a time (0 = whole clip), video out to a safetensors file
/// ('decoded' [N,3,T,H,W]), a video file (libavcodec, at the recorded frame rate), or raw frames
/// (--raw rgb24|f32) to a file or stdout as they are decoded. A stream that recorded padding is cut back
/// to its true frame count, and one encoded with --pad is cropped back to its source size.
/// </summary>
internal static class DecodeCommand
{
    /// <summary>One video's latents; Fps and Crop are what the encoder recorded (null: not recorded).</summary>
    private sealed record Item(int LatentH, int LatentW, int Latents, long? FrameCount, IEnumerable<(float[] Mean, int Frames)> Chunks,
        (int Num, int Den)? Fps = null, (int Width, int Height)? Crop = null);

    public static int Run(Options o, TextWriter stdout, TextWriter stderr)
    {
        var input = o.RequirePath("--input", "decode reads latents from a .wfl or .safetensors file");
        var raw = StreamOptions.RawFormat(o, sizeRequired: false);
        var output = StreamOptions.FramesOutput(o) ?? throw new UsageException("--output is required");
        var messages = StreamOptions.MessageWriter(o, stdout, stderr, output);
        bool tensorOutput = raw == null && output.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase);
        // A latent stream by its first bytes, whatever its name (a writer's temporary included).
        bool isStream = InputFormats.Of(input) == InputFormat.LatentStream
                        || (!File.Exists(input) && input.EndsWith(".wfl", StringComparison.OrdinalIgnoreCase));
        // Usage errors before the weights load.
        if (isStream) StreamOptions.RefuseIgnored(o, "on a latent stream input (it names a tensor of a safetensors input)", "--tensor");
        else StreamOptions.RefuseIgnored(o, "on a safetensors input (it accepts a latent stream without its trailer)", "--allow-incomplete");
        if (tensorOutput) StreamOptions.RefuseIgnored(o, "on a .safetensors output", "--codec", "--crf", "--fps");
        using var statsFile = StreamOptions.StartStats(o);
        // A tensor output is written at the end but started now: an output that cannot be written fails before the decode.
        using var tensorFile = tensorOutput ? WfVae.IO.OutputFile.Create(output) : null;
        using var model = ModelCommands.LoadModel(o, stderr, "decode");
        int chunk = StreamOptions.Chunk(o, model.Config, streamingDefault: 1);
        using var wfl = isStream ? LatentStreamReader.Open(input) : null;
        var items = wfl != null ? new List<Item> { FromWfl(wfl, model, input, o.Has("--allow-incomplete"), stderr) } : FromSafetensors(o, input, model);
        if (!tensorOutput && items.Count != 1)
            throw new InvalidDataException($"{input} holds {items.Count} videos (batch size N = {items.Count}); a video or raw output holds one: write a .safetensors file instead");
        if (items.Any(i => i.Latents == 0))
            throw new InvalidDataException($"{input} holds no latent frame{(wfl?.StopReason is { } why ? $" ({why})" : "")}; nothing to decode");

        // Video and raw outputs: the frame rate recorded with the latents unless --fps says otherwise.
        var first = items[0];
        (int Num, int Den) fps = o.Has("--fps") || first.Fps == null ? StreamOptions.Fps(o) : first.Fps.Value;
        var outSize = first.Crop ?? (WfVaeConfig.PixelSize(first.LatentW), WfVaeConfig.PixelSize(first.LatentH));
        using var sink = tensorOutput ? null : FrameSink.Create(o, output, raw?.Pixel, outSize.Width, outSize.Height, fps);
        var progress = new Progress(o, stderr, "decode", first.FrameCount ?? WfVaeConfig.VideoFrames(first.Latents));

        var (stats, collected, framesOut) = DecodeItems(model, items, chunk, sink, progress);
        progress.Done(framesOut);
        sink?.Complete();
        if (tensorFile != null) WriteTensor(tensorFile, model, collected, (int)(framesOut / items.Count), WfVaeConfig.PixelSize(first.LatentW), WfVaeConfig.PixelSize(first.LatentH), outSize);
        StreamOptions.WriteStats(statsFile, stats); // last: a failed run leaves no statistics
        if (!o.Has("--quiet"))
            messages.WriteLine($"decoded {items.Sum(i => i.Latents)} latent frames -> {framesOut} frames of {(sink != null ? $"{outSize.Width}x{outSize.Height}" : $"{WfVaeConfig.PixelSize(first.LatentW)}x{WfVaeConfig.PixelSize(first.LatentH)}")} " +
                               $"in {sink?.Description ?? output} (chunk {(chunk == 0 ? "whole clip" : chunk)})");
        return 0;
    }

    /// <summary>
    /// Streams each item's latents through its own decoder: frames go to the sink as they leave it, or are kept
    /// (one array per item) for a tensor output.
    /// </summary>
    private static (List<StreamStats> Stats, List<float[]> Collected, long FramesOut) DecodeItems(
        WfVaeModel model, List<Item> items, int chunk, FrameSink? sink, Progress progress)
    {
        var stats = new List<StreamStats>();
        var collected = new List<float[]>();
        long framesOut = 0;
        foreach (var item in items)
        {
            using var decoder = new StreamingDecoder(model, item.LatentH, item.LatentW, chunk, item.FrameCount);
            var frames = new List<float>();
            void Emit(VideoFrames v)
            {
                framesOut += v.Frames;
                if (sink != null) sink.WriteAll(v, WfVaeConfig.PixelSize(item.LatentW), WfVaeConfig.PixelSize(item.LatentH));
                else frames.AddRange(v.Data);
                progress.Update(framesOut);
            }
            foreach (var (mean, n) in item.Chunks) Emit(decoder.Push(mean, n));
            Emit(decoder.Complete());
            stats.Add(decoder.Stats);
            collected.Add(frames.ToArray());
        }
        return (stats, collected, framesOut);
    }

    /// <summary>
    /// 'decoded' [N,3,T,H,W]. Latents of a --pad encode decode to the padded size; the tensor gets the source
    /// size back, as video outputs do.
    /// </summary>
    private static void WriteTensor(WfVae.IO.OutputFile output, WfVaeModel model, List<float[]> items, int t, int width, int height, (int Width, int Height) size)
    {
        var video = new HostTensor(items.Count, 3, t, size.Height, size.Width);
        for (int n = 0; n < items.Count; n++) video.SetFrames(n, 0, CropFrames(items[n], t, width, height, size), t);
        SafetensorsWriter.Write(output, new[] { ("decoded", video.Shape, (ReadOnlyMemory<float>)video.Data) }, metadata: ModelCommands.Metadata(model, t));
    }

    private static float[] CropFrames(float[] frames, int count, int width, int height, (int Width, int Height) to)
    {
        if (to == (width, height)) return frames;
        int fe = 3 * width * height;
        return Enumerable.Range(0, count)
            .SelectMany(i => WfVae.Media.FrameConversion.CropPlanar(frames.AsSpan(i * fe, fe), width, height, to.Width, to.Height))
            .ToArray();
    }

    /// <summary>
    /// A .wfl stream. A complete file's trailer (read in a first pass: latents are small) gives the true
    /// frame count before decoding starts, so frames are cut as they leave. A file without a valid trailer (a
    /// killed writer's, cut short, or damaged) is refused before anything is written: decoding only the frames
    /// before the damage must be asked for (--allow-incomplete), or the file completed first (wfvae repair).
    /// </summary>
    private static Item FromWfl(LatentStreamReader reader, WfVaeModel model, string path, bool allowIncomplete, TextWriter stderr)
    {
        var h = reader.Header;
        if (h.LatentChannels != model.Config.LatentDim)
            throw new InvalidDataException($"{path} holds latents of {h.LatentChannels} channels; the model has {model.Config.LatentDim}");
        if (!string.Equals(h.WeightsSha256, model.WeightsHash, StringComparison.OrdinalIgnoreCase))
            stderr.WriteLine($"wfvae decode: warning: {path} was encoded with other weights (sha256 {h.WeightsSha256[..Math.Min(16, h.WeightsSha256.Length)]}…)");
        int latents = 0;
        foreach (var c in reader.ReadChunks()) latents += c.Frames;
        var trailer = reader.Trailer;
        if (trailer == null && latents > 0) // with none, decoding stops with that error instead
        {
            if (!allowIncomplete)
                throw new InvalidDataException($"{path} is incomplete ({reader.StopReason}); its {latents} intact latent frames " +
                    $"(video frames 0-{WfVaeConfig.VideoFrames(latents) - 1}) can be decoded with --allow-incomplete, or kept as a complete stream by 'wfvae repair'");
            stderr.WriteLine($"wfvae decode: warning: {path} is incomplete ({reader.StopReason}); decoding its {latents} intact latent frames");
        }
        return new Item(h.LatentHeight, h.LatentWidth, latents, trailer?.PaddedFrames > 0 ? trailer.VideoFrames : null,
            reader.ReadChunks().Select(c => (c.Mean, c.Frames)), (h.FrameRateNum, h.FrameRateDen),
            h.SourceWidth != null || h.SourceHeight != null ? h.OutputSize : null);
    }

    /// <summary>Latents [N,L,t,h,w] from a safetensors file; metadata from `wfvae encode` with padding gives the true frame count.</summary>
    private static List<Item> FromSafetensors(Options o, string path, WfVaeModel model)
    {
        var latents = ModelCommands.ReadTensor(path, o.Get("--tensor") ?? "mean", expectChannels: model.Config.LatentDim);
        long? frames = null;
        (int, int)? fps = null, crop = null;
        using (var file = SafetensorsFile.Open(path))
        {
            var m = file.Metadata;
            if (m.TryGetValue("padded_frames", out var p) && int.TryParse(p, out int padded) && padded > 0
                && m.TryGetValue("frames", out var f) && long.TryParse(f, out long total))
                frames = total;
            if (m.TryGetValue("fps", out var r) && r.Split('/') is [var a, var b] && int.TryParse(a, out int num) && int.TryParse(b, out int den) && num > 0 && den > 0)
                fps = (num, den);
            if (m.TryGetValue("source_width", out var sw) && int.TryParse(sw, out int cw) && m.TryGetValue("source_height", out var sh) && int.TryParse(sh, out int ch)
                && cw <= WfVaeConfig.PixelSize(latents.W) && ch <= WfVaeConfig.PixelSize(latents.H) && cw > 0 && ch > 0)
                crop = (cw, ch);
        }
        var items = new List<Item>();
        for (int n = 0; n < latents.N; n++)
        {
            var data = latents.ToFrameMajor(n);
            items.Add(new Item(latents.H, latents.W, latents.T, frames, new[] { (data, latents.T) }, fps, crop));
        }
        return items;
    }
}

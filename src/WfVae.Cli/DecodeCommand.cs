using System.IO.Pipelines;
using WfVae.Model;
using WfVae.Model.Checkpoint;
using WfVae.Streaming;
using WfVae.Streaming.LatentStream;

namespace WfVae.Cli;

/// <summary>
/// wfvae decode: latents in (a .wfl latent stream, or a safetensors tensor [N,L,t,h,w]), streamed through
/// the decoder --chunk latent frames at a time (0 = whole clip), video out to a safetensors file
/// ('decoded' [N,3,T,H,W]) or raw frames (--raw rgb24|f32) to a file or stdout as they are decoded. A
/// stream that recorded padding is cut back to its true frame count.
/// </summary>
internal static class DecodeCommand
{
    public static int Run(Options o, TextWriter stdout) => RunAsync(o, stdout).GetAwaiter().GetResult();

    private sealed record Item(int LatentH, int LatentW, int Latents, long? FrameCount, IEnumerable<(float[] Mean, int Frames)> Chunks);

    private static async Task<int> RunAsync(Options o, TextWriter stdout)
    {
        var input = o.Require("--input");
        var output = o.Require("--output");
        var raw = StreamOptions.RawFormat(o, sizeRequired: false);
        using var model = ModelCommands.LoadModel(o);
        int chunk = StreamOptions.Chunk(o, model.Config, streamingDefault: 1);
        using var wfl = input.EndsWith(".wfl", StringComparison.OrdinalIgnoreCase) ? LatentStreamReader.Open(input) : null;
        var items = wfl != null ? new List<Item> { FromWfl(wfl, model, input) } : FromSafetensors(o, input, model);

        var stats = new List<StreamStats>();
        var collected = new List<float[]>();
        Stream? rawStream = null;
        PipeWriter? pipe = null;
        if (raw != null)
        {
            rawStream = StreamOptions.OpenOutput(output);
            pipe = PipeWriter.Create(rawStream, new StreamPipeWriterOptions(leaveOpen: output == "-"));
        }
        long framesOut = 0;
        try
        {
            foreach (var item in items)
            {
                using var decoder = new StreamingDecoder(model, item.LatentH, item.LatentW, chunk, item.FrameCount);
                var format = raw == null ? null
                    : new RawFrameFormat(raw.Pixel, 8 * item.LatentW, 8 * item.LatentH, raw.FpsNumerator, raw.FpsDenominator);
                var frames = new List<float>();
                async Task Emit(VideoFrames v)
                {
                    framesOut += v.Frames;
                    if (pipe != null) await StreamingDecoder.WriteAsync(pipe, format!, v);
                    else frames.AddRange(v.Data);
                }
                foreach (var (mean, n) in item.Chunks) await Emit(decoder.Push(mean, n));
                await Emit(decoder.Complete());
                stats.Add(decoder.Stats);
                collected.Add(frames.ToArray());
            }
        }
        finally
        {
            if (pipe != null) await pipe.CompleteAsync();
            rawStream?.Dispose();
        }
        StreamOptions.WriteStats(o, stats);

        if (raw == null)
        {
            var first = items[0];
            int t = (int)(framesOut / items.Count);
            var video = new HostTensor(items.Count, 3, t, 8 * first.LatentH, 8 * first.LatentW);
            for (int n = 0; n < items.Count; n++) video.SetFrames(n, 0, collected[n], t);
            var metadata = ModelCommands.Metadata(model, t);
            SafetensorsWriter.Write(output, new[] { ("decoded", video.Shape, (ReadOnlyMemory<float>)video.Data) }, metadata: metadata);
        }
        if (!o.Has("--quiet"))
            stdout.WriteLine($"decoded {items.Sum(i => i.Latents)} latent frames -> {framesOut} frames of {8 * items[0].LatentW}x{8 * items[0].LatentH} in {output} (chunk {(chunk == 0 ? "whole clip" : chunk)})");
        return 0;
    }

    /// <summary>
    /// A .wfl stream. A complete file's trailer (read in a first pass: latents are small) gives the true
    /// frame count before decoding starts, so frames are cut as they leave; an incomplete file decodes what it holds.
    /// </summary>
    private static Item FromWfl(LatentStreamReader reader, WfVaeModel model, string path)
    {
        var h = reader.Header;
        if (h.LatentChannels != model.Config.LatentDim)
            throw new InvalidDataException($"{path} holds latents of {h.LatentChannels} channels; the model has {model.Config.LatentDim}");
        if (!string.Equals(h.WeightsSha256, model.WeightsHash, StringComparison.OrdinalIgnoreCase))
            Console.Error.WriteLine($"wfvae decode: warning: {path} was encoded with other weights (sha256 {h.WeightsSha256[..Math.Min(16, h.WeightsSha256.Length)]}…)");
        int latents = 0;
        foreach (var c in reader.ReadChunks()) latents += c.Frames;
        var trailer = reader.Trailer;
        if (trailer == null)
            Console.Error.WriteLine($"wfvae decode: warning: {path} is incomplete ({reader.StopReason}); decoding its {latents} latent frames");
        return new Item(h.LatentHeight, h.LatentWidth, latents, trailer?.PaddedFrames > 0 ? trailer.VideoFrames : null,
            reader.ReadChunks().Select(c => (c.Mean, c.Frames)));
    }

    /// <summary>Latents [N,L,t,h,w] from a safetensors file; metadata from `wfvae encode` with padding gives the true frame count.</summary>
    private static List<Item> FromSafetensors(Options o, string path, WfVaeModel model)
    {
        var latents = ModelCommands.ReadTensor(path, o.Get("--tensor") ?? "mean", expectChannels: model.Config.LatentDim);
        long? frames = null;
        using (var file = SafetensorsFile.Open(path))
            if (file.Metadata.TryGetValue("padded_frames", out var p) && int.TryParse(p, out int padded) && padded > 0
                && file.Metadata.TryGetValue("frames", out var f) && long.TryParse(f, out long total))
                frames = total;
        var items = new List<Item>();
        for (int n = 0; n < latents.N; n++)
        {
            var data = latents.ToFrameMajor(n);
            items.Add(new Item(latents.H, latents.W, latents.T, frames, new[] { (data, latents.T) }));
        }
        return items;
    }
}

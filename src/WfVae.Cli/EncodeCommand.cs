using System.IO.Pipelines;
using WfVae.Model;
using WfVae.Model.Checkpoint;
using WfVae.Streaming;
using WfVae.Streaming.LatentStream;

namespace WfVae.Cli;

/// <summary>
/// wfvae encode: video in (a safetensors tensor [N,3,T,H,W] in [−1,1], raw frames from a file or stdin
/// with --raw, or any video file or URL FFmpeg opens, through --vf), streamed through the encoder --chunk frames at a time (0 = whole clip), latents out to a
/// safetensors file (mean, logvar [N,L,t,h,w]) or a .wfl latent stream.
/// </summary>
internal static class EncodeCommand
{
    public static int Run(Options o, TextWriter stdout, TextWriter stderr) => RunAsync(o, stdout, stderr).GetAwaiter().GetResult();

    private static async Task<int> RunAsync(Options o, TextWriter stdout, TextWriter stderr)
    {
        var input = o.Require("--input");
        var output = o.Require("--output");
        var messages = StreamOptions.MessageWriter(o, stdout, stderr);
        bool tensorInput = input.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) && !o.Has("--raw");
        // A video or raw source is opened first: an unreadable input fails before the GPU starts.
        using var source = tensorInput ? null : FrameSource.Open(o, input, stderr, "encode");
        var size = source?.ModelSize(o);
        using var model = ModelCommands.LoadModel(o);
        int chunk = StreamOptions.Chunk(o, model.Config, streamingDefault: 4);
        var policy = StreamOptions.Policy(o);
        var (fpsNum, fpsDen) = StreamOptions.Fps(o);

        // The sources: one video or raw stream, or every batch item of a tensor as planar float32 frames.
        var items = new List<(RawFrameFormat Format, Func<PipeReader> Open)>();
        HostTensor? video = null;
        (int Width, int Height)? crop = null;
        Progress? progress = null;
        if (source != null)
        {
            var f = source.Format;
            items.Add((new RawFrameFormat(f.Pixel, size!.Value.Width, size.Value.Height, f.FpsNumerator, f.FpsDenominator),
                () => source.Pump(size.Value, StreamOptions.MaxFrames(o), null)));
            if (size != (f.Width, f.Height)) crop = (f.Width, f.Height);
            progress = new Progress(o, stderr, "encode", source.TotalFrames);
        }
        else
        {
            video = ModelCommands.ReadTensor(input, o.Get("--tensor") ?? "video", expectChannels: 3);
            var format = new RawFrameFormat(RawPixelFormat.PlanarFloat32, video.W, video.H, fpsNum, fpsDen);
            for (int n = 0; n < video.N; n++)
            {
                int item = n;
                items.Add((format, () => StreamOptions.FromFrames(video.ToFrameMajor(item))));
            }
        }

        // Encoders first: a bad chunk size or frame size fails before any output file is started.
        var encoders = items.Select(i => new StreamingEncoder(model, i.Format, chunk, policy)).ToList();
        var stats = new List<StreamStats>();
        ILatentSink sink = output.EndsWith(".wfl", StringComparison.OrdinalIgnoreCase)
            ? WflSink.Create(o, output, model, items, policy, crop)
            : output.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) ? new SafetensorsSink(o, output, model, items.Count, crop)
            : throw new UsageException($"encode writes latents: --output must end in .wfl or .safetensors, got '{output}'");
        using (sink as IDisposable)
        {
            Exception? failure = null;
            for (int n = 0; n < items.Count && failure == null; n++)
            {
                var encoder = encoders[n];
                try
                {
                    await foreach (var latents in encoder.EncodeAsync(items[n].Open()))
                    {
                        sink.Add(n, latents);
                        progress?.Update(encoder.Stats!.FramesIn);
                    }
                    if (source?.Error is { } sourceError) throw sourceError;
                }
                catch (Exception e) when (e is InvalidDataException or IOException or WfVae.Media.MediaException)
                {
                    failure = e; // the latents before the failure were written; report after saving them
                }
                stats.Add(encoder.Stats!);
                sink.EndItem(n, encoder, failure != null);
            }
            progress?.Done(stats.Sum(x => x.FramesIn));
            StreamOptions.WriteStats(o, stats);
            if (failure != null) throw failure;
            sink.Complete();
        }

        if (!o.Has("--quiet"))
        {
            string from = source != null ? $" of {source.Description}" : "";
            string padded = crop is { } c ? $", frames edge-padded from {c.Width}x{c.Height} to {size!.Value.Width}x{size.Value.Height}" : "";
            messages.WriteLine($"encoded {stats.Sum(x => x.FramesIn)} frames{from} -> {stats.Sum(x => x.FramesOut)} latent frames in {output} " +
                               $"(chunk {(chunk == 0 ? "whole clip" : chunk)}{StreamOptions.PolicyNote(stats[0])}{padded})");
        }
        return 0;
    }

    private interface ILatentSink
    {
        void Add(int item, LatentFrames latents);
        void EndItem(int item, StreamingEncoder encoder, bool failed);
        void Complete();
    }

    /// <summary>mean/logvar (and a seeded sample) as [N,L,t,h,w]; metadata records the true frame count and policy.</summary>
    private sealed class SafetensorsSink(Options o, string output, WfVaeModel model, int items, (int Width, int Height)? crop) : ILatentSink
    {
        private readonly List<LatentFrames>[] _chunks = Enumerable.Range(0, items).Select(_ => new List<LatentFrames>()).ToArray();
        private StreamingEncoder? _last;
        private int _h, _w;

        public void Add(int item, LatentFrames latents) => _chunks[item].Add(latents);

        public void EndItem(int item, StreamingEncoder encoder, bool failed)
        {
            _last = encoder;
            (_h, _w) = (WfVaeConfig.LatentSize(encoder.Format.Height), WfVaeConfig.LatentSize(encoder.Format.Width));
        }

        public void Complete()
        {
            int t = _chunks[0].Sum(c => c.Frames), l = model.Config.LatentDim;
            var mean = new HostTensor(items, l, t, _h, _w);
            var logvar = new HostTensor(items, l, t, _h, _w);
            for (int n = 0; n < items; n++)
            {
                mean.SetFrames(n, 0, _chunks[n].SelectMany(c => c.Mean).ToArray(), t);
                logvar.SetFrames(n, 0, _chunks[n].SelectMany(c => c.Logvar).ToArray(), t);
            }
            var tensors = new List<(string, long[], ReadOnlyMemory<float>)>
            {
                ("mean", mean.Shape, mean.Data),
                ("logvar", logvar.Shape, logvar.Data),
            };
            if (o.Get("--sample-seed") is { } seed)
            {
                var sample = new Posterior(model, mean, logvar).Sample(ulong.Parse(seed));
                tensors.Add(("sample", sample.Shape, sample.Data));
            }
            var stats = _last!.Stats!;
            var metadata = ModelCommands.Metadata(model, (int)stats.FramesIn);
            metadata["frame_policy"] = _last.Policy == FramePolicy.Pad ? "pad" : "drop";
            metadata["padded_frames"] = stats.PaddedFrames.ToString();
            metadata["dropped_frames"] = stats.DroppedFrames.ToString();
            metadata["fps"] = $"{_last.Format.FpsNumerator}/{_last.Format.FpsDenominator}";
            if (crop is { } c)
            {
                metadata["source_width"] = c.Width.ToString();
                metadata["source_height"] = c.Height.ToString();
            }
            SafetensorsWriter.Write(output, tensors, metadata: metadata);
        }
    }

    /// <summary>
    /// A .wfl latent stream: each chunk is written (and flushed) as it leaves the encoder; the trailer with
    /// the true frame count and the padded/dropped frames makes the file complete. After a failure the
    /// latents written so far stay readable in the .partial file.
    /// </summary>
    private sealed class WflSink : ILatentSink, IDisposable
    {
        private readonly LatentStreamWriter _writer;
        private StreamingEncoder? _encoder;

        private WflSink(LatentStreamWriter writer) => _writer = writer;

        public static WflSink Create(Options o, string output, WfVaeModel model, IReadOnlyList<(RawFrameFormat Format, Func<PipeReader> Open)> items, FramePolicy policy,
            (int Width, int Height)? crop)
        {
            if (items.Count != 1)
                throw new InvalidDataException($"a .wfl file holds one video, but the input holds {items.Count} (batch size N = {items.Count}); write a .safetensors file instead");
            var f = items[0].Format;
            var header = LatentStreamHeader.For(model.Config, model.WeightsHash, f.Height, f.Width, f.FpsNumerator, f.FpsDenominator,
                policy == FramePolicy.Pad ? LatentStreamHeader.PolicyPad : LatentStreamHeader.PolicyDrop) with
            {
                SourceWidth = crop?.Width,
                SourceHeight = crop?.Height,
            };
            return new WflSink(LatentStreamWriter.Create(output, header));
        }

        public void Add(int item, LatentFrames latents) => _writer.WriteChunk(latents);

        public void EndItem(int item, StreamingEncoder encoder, bool failed) => _encoder = encoder;

        public void Complete()
        {
            var s = _encoder!.Stats!;
            _writer.Complete(s.FramesIn, s.PaddedFrames, s.DroppedFrames);
        }

        public void Dispose() => _writer.Dispose();
    }
}

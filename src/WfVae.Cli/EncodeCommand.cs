using System.IO.Pipelines;
using WfVae.IO;
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
        bool tensorInput = IsTensorInput(o, input);
        if (tensorInput) StreamOptions.RefuseIgnored(o, "on a safetensors tensor input", "--vf", "--format", "--frames", "--timeout", "--follow", "--no-autorotate", "--size");
        else StreamOptions.RefuseIgnored(o, "on a video or raw input (it names a tensor of a safetensors input)", "--tensor");
        bool wfl = output.EndsWith(".wfl", StringComparison.OrdinalIgnoreCase);
        if (!wfl && !output.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
            throw new UsageException($"encode writes latents: --output must end in .wfl or .safetensors, got '{output}'");
        if (wfl) StreamOptions.RefuseIgnored(o, "on a .wfl output (it adds a 'sample' tensor to a .safetensors output)", "--sample-seed");
        ulong? sampleSeed = SampleSeed(o);
        using var statsFile = StreamOptions.StartStats(o);
        // A video or raw source is opened first: an unreadable input fails before the GPU starts.
        using var source = tensorInput ? null : FrameSource.Open(o, input, stderr, "encode");
        var size = source?.ModelSize(o);
        using var model = ModelCommands.LoadModel(o, stderr, "encode");
        int chunk = StreamOptions.Chunk(o, model.Config, streamingDefault: 4, videoFrames: true);
        var policy = StreamOptions.Policy(o);
        var (items, crop, progress) = source != null ? SourceItems(o, source, size!.Value, stderr) : TensorItems(o, input);

        // Encoders first: a bad chunk size or frame size fails before the output is started. A .wfl sink writes
        // each chunk at once and keeps none, so its encoders may recycle the latent arrays (no allocation per push).
        var encoders = items.Select(i => new StreamingEncoder(model, i.Format, chunk, policy) { RecycleLatents = wfl }).ToList();
        var stats = new List<StreamStats>();
        ILatentSink sink = wfl ? WflSink.Create(output, model, items, policy, crop) : new SafetensorsSink(sampleSeed, output, model, items.Count, crop);
        try
        {
            using (sink as IDisposable)
            {
                var failure = await EncodeItems(items, encoders, sink, source, progress, stats);
                progress?.Done(stats.Sum(x => x.FramesIn));
                if (failure != null) throw failure;
                if (stats.Sum(x => x.FramesOut) == 0)
                    throw new InvalidDataException($"'{(source?.Name ?? input)}': no latent came out ({stats.Sum(x => x.FramesIn)} frames in{(policy == FramePolicy.Drop ? "; policy drop needs at least 1" : "")}); nothing was written");
                sink.Complete();
                StreamOptions.WriteStats(statsFile, stats); // last: a failed run leaves no statistics
            }
        }
        catch (Exception e) when (sink is WflSink { Kept: { } kept })
        {
            e.Data[CommandLine.NoteKey] = CommandLine.KeptNote([kept]);
            throw;
        }

        if (!o.Has("--quiet"))
        {
            string from = source != null ? $" of {source.Description}" : "";
            string padded = crop is { } c ? $", frames edge-padded from {c.Width}x{c.Height} to {WfVaeConfig.PaddedSize(c.Width)}x{WfVaeConfig.PaddedSize(c.Height)}" : "";
            messages.WriteLine($"encoded {stats.Sum(x => x.FramesIn)} frames{from} -> {stats.Sum(x => x.FramesOut)} latent frames in {output} " +
                               $"(chunk {(chunk == 0 ? "whole clip" : chunk)}{StreamOptions.PolicyNote(stats[0])}{padded})");
        }
        return 0;
    }

    private sealed record Item(RawFrameFormat Format, Func<PipeReader> Open);

    /// <summary>
    /// Streams every item through its encoder into the sink; returns the input failure that stopped it (the
    /// latents before it were written, to be reported after they are saved), or null.
    /// </summary>
    private static async Task<Exception?> EncodeItems(List<Item> items, List<StreamingEncoder> encoders, ILatentSink sink,
        FrameSource? source, Progress? progress, List<StreamStats> stats)
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
                failure = source?.Error ?? e;
            }
            stats.Add(encoder.Stats!);
            sink.EndItem(n, encoder, failure != null);
        }
        return failure;
    }

    /// <summary>A safetensors tensor, told by its first bytes (a missing *.safetensors is reported as one), unless --raw says otherwise.</summary>
    private static bool IsTensorInput(Options o, string input) =>
        !o.Has("--raw") && (InputFormats.Of(input) == InputFormat.Safetensors
                            || (!File.Exists(input) && input.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase)));

    /// <summary>One video or raw stream; crop = the source size when --pad enlarged it.</summary>
    private static (List<Item>, (int Width, int Height)?, Progress?) SourceItems(Options o, FrameSource source, (int Width, int Height) size, TextWriter stderr)
    {
        var f = source.Format;
        var items = new List<Item> { new(new RawFrameFormat(f.Pixel, size.Width, size.Height, f.FpsNumerator, f.FpsDenominator),
            () => source.Pump(size, StreamOptions.MaxFrames(o), null)) };
        (int, int)? crop = size != (f.Width, f.Height) ? (f.Width, f.Height) : null;
        return (items, crop, new Progress(o, stderr, "encode", source.TotalFrames));
    }

    /// <summary>
    /// Every batch item of a [N,3,T,H,W] tensor as planar float32 frames; sizes that are not multiples of 8
    /// are edge-padded with --pad (and the source size recorded for decode to crop back), refused without.
    /// </summary>
    private static (List<Item>, (int Width, int Height)?, Progress?) TensorItems(Options o, string input)
    {
        var video = ModelCommands.ReadTensor(input, o.Get("--tensor") ?? "video", expectChannels: 3);
        int w = video.W, h = video.H, pw = WfVaeConfig.PaddedSize(w), ph = WfVaeConfig.PaddedSize(h);
        if ((pw, ph) != (w, h) && !o.Has("--pad"))
            throw new InvalidDataException(
                $"'{input}': frames are {w}x{h}, but the VAE needs multiples of 8 in each direction; add --pad (edge padding to {pw}x{ph}, output cropped back to {w}x{h})");
        var (fpsNum, fpsDen) = StreamOptions.Fps(o);
        var format = new RawFrameFormat(RawPixelFormat.PlanarFloat32, pw, ph, fpsNum, fpsDen);
        var items = new List<Item>();
        for (int n = 0; n < video.N; n++)
        {
            int item = n;
            items.Add(new Item(format, () => StreamOptions.FromFrames(PadFrames(video.ToFrameMajor(item), video.T, w, h, pw, ph))));
        }
        return (items, (pw, ph) != (w, h) ? (w, h) : null, null);
    }

    private static float[] PadFrames(float[] frames, int count, int w, int h, int pw, int ph)
    {
        if ((pw, ph) == (w, h)) return frames;
        int fe = 3 * w * h;
        var padded = new float[(long)count * 3 * pw * ph];
        for (int t = 0; t < count; t++)
            WfVae.Media.FrameConversion.PadPlanar(frames.AsSpan(t * fe, fe), w, h, pw, ph).CopyTo(padded, (long)t * 3 * pw * ph);
        return padded;
    }

    private interface ILatentSink
    {
        void Add(int item, LatentFrames latents);
        void EndItem(int item, StreamingEncoder encoder, bool failed);
        void Complete();
    }

    /// <summary>
    /// mean/logvar (and a seeded sample) as [N,L,t,h,w]; metadata records the true frame count and policy. The file
    /// is started at once, so an output that cannot be written fails before the encode, and written at the end.
    /// </summary>
    /// <summary>--sample-seed, read before any work: a bad value is a usage error, not the end of a finished encode.</summary>
    private static ulong? SampleSeed(Options o) => o.Get("--sample-seed") is not { } seed ? null
        : ulong.TryParse(seed, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var v) ? v
        : throw new UsageException($"--sample-seed must be a non-negative integer, got '{seed}'");

    private sealed class SafetensorsSink(ulong? sampleSeed, string output, WfVaeModel model, int items, (int Width, int Height)? crop) : ILatentSink, IDisposable
    {
        private readonly OutputFile _file = OutputFile.Create(output);
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
            if (sampleSeed is { } value)
            {
                var sample = new Posterior(model, mean, logvar).Sample(value);
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
            SafetensorsWriter.Write(_file, tensors, metadata);
        }

        public void Dispose() => _file.Dispose();
    }

    /// <summary>
    /// A .wfl latent stream: each chunk is written (and flushed) as it leaves the encoder; the trailer with
    /// the true frame count and the padded/dropped frames makes the file complete. After a failure the
    /// latents written so far stay readable in the writer's temporary (<see cref="Kept"/>).
    /// </summary>
    private sealed class WflSink : ILatentSink, IDisposable
    {
        private readonly LatentStreamWriter _writer;
        private StreamingEncoder? _encoder;

        private WflSink(LatentStreamWriter writer) => _writer = writer;

        public static WflSink Create(string output, WfVaeModel model, IReadOnlyList<Item> items, FramePolicy policy,
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

        /// <summary>The temporary kept after a failure (it holds chunks), else null.</summary>
        public string? Kept => _writer.Chunks > 0 && !_writer.IsCompleted ? _writer.PartialPath : null;

        public void Dispose() => _writer.Dispose();
    }
}

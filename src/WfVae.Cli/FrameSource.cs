using System.Collections.Concurrent;
using System.IO.Pipelines;
using WfVae.Media;
using WfVae.Model.Checkpoint;
using WfVae.Streaming;

namespace WfVae.Cli;

/// <summary>
/// The video a command reads: raw frames (--raw, from a file or stdin) or anything FFmpeg opens (a file,
/// "-" for stdin, a udp/tcp/http URL), with the --vf filter graph applied. Frames come out in the
/// source's byte layout (RGB24, or planar float32 for --raw f32) at the source size; <see cref="Pump"/>
/// pads them to multiples of 8 (--pad) and feeds a StreamingEncoder through a pipe.
/// </summary>
internal abstract class FrameSource : IDisposable
{
    public required string Name { get; init; }
    public required RawFrameFormat Format { get; init; }   // source size, pixel layout, frame rate
    /// <summary>Frames in the input when known up front (a raw file), for the progress ETA.</summary>
    public long? TotalFrames { get; init; }
    /// <summary>One line for the summary, e.g. "clip.mp4 (h264 yuv420p 64x48, 12/1 fps)".</summary>
    public string Description { get; init; } = "";

    /// <summary>
    /// Why reading stopped early (a decoding or network failure), set by <see cref="Pump"/>; the command
    /// reports it after the frames before it went through the VAE. Null: the input ended normally.
    /// </summary>
    public Exception? Error { get; private set; }

    private Task? _pump;
    private PipeReader? _pipeReader;

    /// <summary>
    /// Ends the <see cref="Pump"/> task, if one runs: its pipe's reader is completed, so a pump waiting for room in the
    /// pipe stops, and one inside a read finishes that read. False when it did not end within <paramref name="wait"/>.
    /// </summary>
    protected bool StopPump(TimeSpan wait)
    {
        if (_pump == null) return true;
        _pipeReader!.Complete();
        try { return _pump.Wait(wait); }
        catch (AggregateException) { return true; }
    }

    /// <summary>Reads the next frame (Format.FrameBytes bytes); false at the end.</summary>
    public abstract bool Read(Span<byte> frame);
    public virtual void Dispose() { }

    /// <summary>Opens --input as the options say; the first frame is decoded so a bad input fails here.</summary>
    public static FrameSource Open(Options o, string input, TextWriter stderr, string verb)
    {
        var raw = StreamOptions.RawFormat(o, sizeRequired: true);
        if (raw != null)
        {
            if (o.Has("--vf")) throw new UsageException("--vf filters a video input; raw frames are not filtered (put the filter in the ffmpeg that writes them)");
            StreamOptions.RefuseIgnored(o, "on raw frames (they are read as they come until the input ends, not through FFmpeg)", "--format", "--timeout", "--follow", "--no-autorotate");
            return RawSource.Open(input, raw);
        }
        var timeoutText = o.Get("--timeout") ?? "10";
        if (!double.TryParse(timeoutText, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double timeout) || timeout <= 0)
            throw new UsageException($"--timeout must be a positive number of seconds, got '{timeoutText}'");
        var micros = ((long)(timeout * 1e6)).ToString();
        // A live input (network, or a file still being written with --follow) only ends by going quiet:
        // udp/tcp/http read with no limit unless given a timeout, and a followed file waits for more data.
        bool live = IsNetwork(input) || o.Has("--follow");
        var inputOptions = new Dictionary<string, string>();
        if (IsNetwork(input)) inputOptions["timeout"] = micros;
        if (o.Has("--follow")) (inputOptions["follow"], inputOptions["rw_timeout"]) = ("1", micros);
        var options = new VideoReaderOptions
        {
            VideoFilter = o.Get("--vf"), InputFormat = o.Get("--format"), InputOptions = inputOptions, EndOnReadError = live,
            AutoRotate = !o.Has("--no-autorotate"),
        };
        var reader = VideoReader.Open(input, options);
        try
        {
            var (num, den) = o.Has("--fps") ? StreamOptions.Fps(o)
                : reader.FrameRate.Num > 0 && reader.FrameRate.Den > 0 ? (reader.FrameRate.Num, reader.FrameRate.Den)
                : throw new MediaException($"'{input}': the frame rate is unknown; give it with --fps");
            return new VideoSource(reader, stderr, verb, live, TimeSpan.FromSeconds(Math.Min(timeout, 600) + 5))
            {
                Name = input,
                Format = new RawFrameFormat(RawPixelFormat.Rgb24, reader.Width, reader.Height, num, den),
                Description = $"{input} ({reader.CodecName} {reader.PixelFormatName} {reader.SourceWidth}x{reader.SourceHeight}" +
                              $"{(reader.Rotation != 0 ? $", turned {reader.Rotation} degrees upright by its display matrix" : "")}" +
                              $"{(o.Has("--vf") || reader.Rotation != 0 ? $" -> {(o.Has("--vf") ? $"--vf {o.Get("--vf")} -> " : "")}{reader.Width}x{reader.Height}" : "")}, {num}/{den} fps)",
            };
        }
        catch { reader.Dispose(); throw; }
    }

    private static bool IsNetwork(string input) =>
        input.Contains("://") && !input.StartsWith("file:", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// The frame size the model sees: the source size, or with --pad the next multiples of 8. Without
    /// --pad a size that is not a multiple of 8 is refused with the ways out.
    /// </summary>
    public (int Width, int Height) ModelSize(Options o)
    {
        int w = Format.Width, h = Format.Height;
        if (WfVaeConfig.FitsSpatially(w) && WfVaeConfig.FitsSpatially(h)) return (w, h);
        int pw = WfVaeConfig.PaddedSize(w), ph = WfVaeConfig.PaddedSize(h);
        if (o.Has("--pad")) return (pw, ph);
        const int f = WfVaeConfig.SpatialCompression;
        throw new InvalidDataException(
            $"'{Name}': frames are {w}x{h}, but the VAE needs multiples of {f} in each direction; add --pad (edge padding to {pw}x{ph}, " +
            $"output cropped back to {w}x{h}) or resize with --vf scale={Math.Max(f, w / f * f)}:{Math.Max(f, h / f * f)}");
    }

    /// <summary>
    /// Starts a task that reads every frame (up to <paramref name="maxFrames"/>), pads it to
    /// <paramref name="size"/>, and writes it to a pipe whose reader the encoder takes. Each source frame
    /// is also handed to <paramref name="keep"/> (recon's comparison queue) BEFORE it enters the pipe,
    /// so a decoded frame always finds its input frame there. A failing source ends the pipe with a cut-off
    /// frame (completing it with the error would make the reader throw before it took the frames already
    /// in the pipe) and leaves the error in <see cref="Error"/>, which callers report instead of the cut.
    /// </summary>
    public PipeReader Pump((int Width, int Height) size, long? maxFrames, ConcurrentQueue<byte[]>? keep)
    {
        var fb = Format.FrameBytes;
        // Room for two frames: the source reads at most about one frame ahead of the encoder.
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 2L * fb + 65536, resumeWriterThreshold: fb + 1));
        _pipeReader = pipe.Reader;
        _pump = Task.Run(async () =>
        {
            try
            {
                var frame = new byte[fb];
                for (long n = 0; maxFrames is not { } max || n < max; n++)
                {
                    if (!Read(frame)) break;
                    keep?.Enqueue(frame.ToArray());
                    var padded = size == (Format.Width, Format.Height) ? frame : Pad(frame, size.Width, size.Height);
                    padded.CopyTo(pipe.Writer.GetSpan(padded.Length));
                    pipe.Writer.Advance(padded.Length);
                    var r = await pipe.Writer.FlushAsync();
                    if (r.IsCompleted) return; // the encoder stopped reading (it failed)
                }
            }
            catch (Exception e)
            {
                Error = e;
                // One stray byte: the encoder then ends on a cut-off frame instead of a clean end, so it does
                // not pad the last group with invented frames; the command reports Error, the real cause.
                await pipe.Writer.WriteAsync(new byte[1]);
            }
            finally { await pipe.Writer.CompleteAsync(); }
        });
        return pipe.Reader;
    }

    /// <summary>Edge replication to <paramref name="pw"/> x <paramref name="ph"/> in the source layout.</summary>
    private byte[] Pad(byte[] frame, int pw, int ph)
    {
        int w = Format.Width, h = Format.Height;
        // RGB24: one interleaved plane of 3-byte pixels; f32: three planes of 4-byte samples.
        var (planes, sample) = Format.Pixel == RawPixelFormat.Rgb24 ? (1, 3) : (3, 4);
        var dst = new byte[planes * pw * ph * sample];
        for (int p = 0; p < planes; p++)
            for (int y = 0; y < ph; y++)
            {
                var src = frame.AsSpan((p * h + Math.Min(y, h - 1)) * w * sample, w * sample);
                var row = dst.AsSpan((p * ph + y) * pw * sample, pw * sample);
                src.CopyTo(row);
                for (int x = w; x < pw; x++) src.Slice((w - 1) * sample, sample).CopyTo(row.Slice(x * sample, sample));
            }
        return dst;
    }

    /// <summary>
    /// Raw frames from a file or stdin; a cut-off last frame is an error naming the byte counts of the
    /// source's own frame size (before any --pad), after the complete frames went through.
    /// </summary>
    private sealed class RawSource(Stream stream) : FrameSource
    {
        private long _frames;

        public static RawSource Open(string input, RawFrameFormat format)
        {
            var stream = StreamOptions.OpenInput(input);
            long? total = stream.CanSeek ? stream.Length / format.FrameBytes : null;
            return new RawSource(stream)
            {
                Name = input == "-" ? "stdin" : input,
                Format = format,
                TotalFrames = total,
                Description = $"{(input == "-" ? "stdin" : input)} (raw {format.Describe()})",
            };
        }

        public override bool Read(Span<byte> frame)
        {
            int got = 0;
            while (got < frame.Length)
            {
                int n = stream.Read(frame[got..]);
                if (n == 0) break;
                got += n;
            }
            if (got == frame.Length)
            {
                _frames++;
                return true;
            }
            if (got > 0)
                throw new InvalidDataException(
                    $"'{Name}': the input ended inside a frame: {got} bytes after {_frames} complete frames, but a frame is {frame.Length} bytes " +
                    $"({Format.Describe()}; total {_frames * frame.Length + got} bytes is not a multiple of {frame.Length})");
            return false;
        }

        public override void Dispose() => stream.Dispose();
    }

    /// <summary>
    /// A VideoReader. A live input whose reads fail after frames arrived (the sender stopped: --timeout
    /// seconds of silence, or the connection closed; a followed file stopped growing) has ended — a live
    /// stream has no other end — and the reader drains what its decoder still holds before saying so.
    /// </summary>
    private sealed class VideoSource(VideoReader reader, TextWriter stderr, string verb, bool live, TimeSpan readTimeout) : FrameSource
    {
        public override bool Read(Span<byte> frame)
        {
            if (reader.ReadFrame(frame)) return true;
            if (live && reader.EndReason != null)
                stderr.WriteLine($"wfvae {verb}: the stream ended after {reader.FramesRead} frames ({reader.EndReason})");
            var damage = new List<string>();
            if (reader.ReadErrors > 0) damage.Add($"FFmpeg reported {reader.ReadErrors} error(s) while reading it (first: \"{reader.FirstReadError}\")");
            if (reader.DamagedSkipped > 0) damage.Add($"the decoder refused {reader.DamagedSkipped} packet(s) or frame(s)");
            if (damage.Count > 0)
                stderr.WriteLine($"wfvae {verb}: warning: '{reader.Input}' is damaged: {string.Join(" and ", damage)}; " +
                                 $"the damage was skipped as the ffmpeg tool skips it: {reader.FramesRead} frames were read, those it held are missing");
            return false;
        }

        /// <summary>
        /// Frees the reader once the pump is out of it: a command that failed on its output unwinds while the pump may
        /// still be inside FFmpeg (a live input's read ends within its timeout). A read that outlasts even that keeps
        /// the reader: leaked at exit rather than freed under the read.
        /// </summary>
        public override void Dispose()
        {
            if (StopPump(readTimeout)) reader.Dispose();
        }
    }
}

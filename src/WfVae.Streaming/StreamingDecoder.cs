using System.Diagnostics;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using WfVae.Model;
using WfVae.Model.Checkpoint;

namespace WfVae.Streaming;

/// <summary>
/// Decodes latent frames into video frames as soon as they are computable (docs/model.md#decoder-output-schedule). In trilinear mode
/// latent 0 releases frame 0, latent 1 frames 1–2, latent j ≥ 2 frames 4j − 5 … 4j − 2, and the last two
/// frames come with <see cref="Complete"/>; the only thing held back is the time upsampler's one latent
/// of look-ahead. In nearest mode latent j releases its 4 frames at once. Every chunking is bit identical
/// to whole-clip decoding. When the stream was padded, <see cref="FrameCount"/> cuts the output to the
/// true frame count. Use it as push (<see cref="Push"/>, <see cref="Complete"/>) or via <see cref="DecodeAsync"/>.
/// </summary>
public sealed class StreamingDecoder : IDisposable
{
    private readonly WfVaeModel _model;
    private readonly DecoderSession _session;
    private readonly int _latentElements;
    private float[] _pending;
    private int _pendingCount, _pushedLatents;
    private bool _completed;

    /// <summary>Latent frames per push after the first latent (which goes alone so frame 0 leaves at once); 0 = whole clip (one push at the end).</summary>
    public int Chunk { get; }
    /// <summary>The true number of video frames (null: all 4t − 3); frames beyond it were padding and are not emitted.</summary>
    public long? FrameCount { get; }
    public int LatentHeight { get; }
    public int LatentWidth { get; }
    public StreamStats Stats { get; }

    /// <summary>
    /// Latent frames that must arrive beyond the one a video frame belongs to before that frame can be
    /// emitted: 1 in trilinear mode (frames 4j − 1 and 4j blend latent j with j + 1), 0 in nearest mode.
    /// </summary>
    public int OutputDelayLatents { get; }
    /// <summary>Video frames held back between pushes at steady state: 2 (trilinear) or 0 (nearest).</summary>
    public int HeldBackFrames => 2 * OutputDelayLatents;

    /// <summary>Output delay of a config, as <see cref="OutputDelayLatents"/>.</summary>
    public static int OutputDelayFor(WfVaeConfig config) => config.TemporalInterpolation == TemporalInterpolation.Trilinear ? 1 : 0;

    /// <summary>Video frames that have left the decoder after <paramref name="latents"/> latents (before any cut), for the schedule of docs/model.md#decoder-output-schedule.</summary>
    public static long FramesReleased(WfVaeConfig config, long latents, bool ended)
    {
        if (latents == 0) return 0;
        long all = WfVaeConfig.TemporalCompression * (latents - 1) + 1; // WfVaeConfig.VideoFrames, for long streams
        if (ended || OutputDelayFor(config) == 0) return all;
        return latents == 1 ? 1 : all - 2 * OutputDelayFor(config);
    }

    public StreamingDecoder(WfVaeModel model, int latentHeight, int latentWidth, int chunk = 1, long? frameCount = null)
    {
        _model = model ?? throw new ArgumentNullException(nameof(model));
        ChunkPolicy.Check(model.Config, chunk, videoFrames: false);
        if (frameCount is < 0) throw new ArgumentException($"frame count must not be negative, got {frameCount}");
        Chunk = chunk;
        FrameCount = frameCount;
        LatentHeight = latentHeight;
        LatentWidth = latentWidth;
        OutputDelayLatents = OutputDelayFor(model.Config);
        _latentElements = model.Config.LatentDim * latentHeight * latentWidth;
        _pending = new float[Math.Max(1, chunk == 0 ? 8 : chunk) * _latentElements];
        Stats = new StreamStats(model.Device, "decode", chunk);
        _session = model.OpenDecoder(latentHeight, latentWidth);
    }

    /// <summary>Frames [n][3][8h][8w] of the decoded video from <see cref="VideoFrames.FirstFrame"/> on.</summary>
    public int FrameElements => 3 * WfVaeConfig.PixelSize(LatentHeight) * WfVaeConfig.PixelSize(LatentWidth);

    /// <summary>
    /// Takes <paramref name="count"/> latent frames [count][L][h][w] and returns the video frames that became
    /// computable (possibly none: latents wait until a chunk is full).
    /// </summary>
    public VideoFrames Push(ReadOnlySpan<float> latents, int count)
    {
        if (_completed) throw new InvalidOperationException("the latent stream has already been completed");
        if (latents.Length != (long)count * _latentElements)
            throw new ArgumentException($"{count} latent frames of {_model.Config.LatentDim}x{LatentHeight}x{LatentWidth} need {(long)count * _latentElements} values, got {latents.Length}");
        if (NonFinite.IndexIn(latents) is var bad and >= 0)
        {
            int frame = bad / _latentElements;
            throw new InvalidDataException(
                $"latent frame {_pushedLatents + _pendingCount + frame} holds " +
                $"{NonFinite.At(latents.Slice(frame * _latentElements, _latentElements), bad % _latentElements, LatentHeight, LatentWidth)}; latents must be finite");
        }
        // One push's frames are returned as they are; only several pushes in one call are joined into a new array.
        VideoFrames? single = null;
        List<VideoFrames>? several = null;
        int at = 0;
        while (at < count)
        {
            int target = ChunkPolicy.NextPush(_pushedLatents, Chunk);
            int take = Math.Min(count - at, target - _pendingCount);
            if ((_pendingCount + take) * _latentElements > _pending.Length)
                Array.Resize(ref _pending, Math.Max(2 * _pending.Length, (_pendingCount + take) * _latentElements));
            latents.Slice(at * _latentElements, take * _latentElements).CopyTo(_pending.AsSpan(_pendingCount * _latentElements));
            _pendingCount += take;
            at += take;
            if (_pendingCount != target) continue;
            var v = PushPending(last: false);
            if (single == null) single = v;
            else (several ??= [single]).Add(v);
        }
        return several != null ? Join(several) : single ?? Join([]);
    }

    /// <summary>Ends the stream: decodes what is pending and flushes the frames held back for look-ahead.</summary>
    public VideoFrames Complete()
    {
        if (_completed) throw new InvalidOperationException("the latent stream has already been completed");
        var r = PushPending(last: true);
        _completed = true;
        Stats.Finish();
        return r;
    }

    private VideoFrames PushPending(bool last)
    {
        long start = Stopwatch.GetTimestamp();
        int n = _pendingCount;
        var v = _session.Push(_pending.AsSpan(0, n * _latentElements), n, last);
        _pushedLatents += n;
        _pendingCount = 0;
        var cut = Cut(v);
        Stats.Add(n, cut.Frames, Stopwatch.GetElapsedTime(start).TotalMilliseconds, _session.Memory);
        if (cut.Frames < v.Frames) Stats.PaddedFrames += v.Frames - cut.Frames;
        return cut;
    }

    private VideoFrames Cut(VideoFrames v)
    {
        if (FrameCount is not { } total || v.FirstFrame + v.Frames <= total) return v;
        int keep = (int)Math.Max(0, total - v.FirstFrame);
        return new VideoFrames(v.FirstFrame, keep, v.Data.AsSpan(0, keep * FrameElements).ToArray());
    }

    private VideoFrames Join(List<VideoFrames> parts)
    {
        if (parts.Count == 1) return parts[0];
        int first = parts.Count > 0 ? parts[0].FirstFrame : (int)Math.Min(Stats.FramesOut, int.MaxValue);
        return new VideoFrames(first, parts.Sum(p => p.Frames), parts.SelectMany(p => p.Data).ToArray());
    }

    /// <summary>
    /// Decodes the mean of every latent chunk of <paramref name="latents"/>, yielding video frames as they
    /// become computable and the held-back frames once the latent stream ends.
    /// </summary>
    public async IAsyncEnumerable<VideoFrames> DecodeAsync(IAsyncEnumerable<LatentFrames> latents, [EnumeratorCancellation] CancellationToken ct = default)
    {
        await foreach (var chunk in latents.WithCancellation(ct).ConfigureAwait(false))
        {
            var v = Push(chunk.Mean, chunk.Frames);
            if (v.Frames > 0) yield return v;
        }
        ct.ThrowIfCancellationRequested();
        var tail = Complete();
        if (tail.Frames > 0) yield return tail;
    }

    /// <summary>Writes decoded frames to <paramref name="output"/> in <paramref name="format"/> (which must match the frame size).</summary>
    public static async ValueTask WriteAsync(PipeWriter output, RawFrameFormat format, VideoFrames frames, CancellationToken ct = default)
    {
        int fe = format.FrameElements, fb = format.FrameBytes;
        if (frames.Data.Length != (long)frames.Frames * fe)
            throw new ArgumentException($"decoded frames are not {format.Width}x{format.Height}");
        for (int i = 0; i < frames.Frames; i++)
        {
            var span = output.GetSpan(fb);
            format.FromModel(frames.Data.AsSpan(i * fe, fe), span);
            output.Advance(fb);
            // Flushing per frame lets a slow reader hold the decoder back at the pipe's threshold.
            var r = await output.FlushAsync(ct).ConfigureAwait(false);
            if (r.IsCanceled) throw new OperationCanceledException("the frame writer was cancelled");
            if (r.IsCompleted) throw new IOException("the reader of the decoded frames stopped reading");
        }
    }

    public void Dispose() => _session.Dispose();
}

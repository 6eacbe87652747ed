using System.Diagnostics;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using WfVae.Model;
using WfVae.Model.Checkpoint;

namespace WfVae.Streaming;

/// <summary>What to do with the frames of an incomplete last group (T − 1 not a multiple of 4, docs/model.md#end-of-stream).</summary>
public enum FramePolicy
{
    /// <summary>Repeat the last frame to complete the group; the true frame count travels with the latents so decoding returns exactly the input frames.</summary>
    Pad,
    /// <summary>The official behaviour: the incomplete group never reaches a latent.</summary>
    Drop,
}

/// <summary>
/// Encodes a live raw video stream into latent frames as soon as they are computable: the first frame alone,
/// then every <see cref="Chunk"/> frames (<see cref="ChunkPolicy"/>; a multiple of 4, each 4 frames complete one
/// latent). The chunk size changes when latents come out, never their values: every chunking is bit
/// identical to whole-clip inference (<see cref="Chunk"/> = 0, one push of the whole stream). Device
/// memory is the weights, the layers' causal caches and one chunk's intermediates, whatever the stream
/// length; host memory is one chunk of frames plus what the pipe buffers.
/// </summary>
public sealed class StreamingEncoder
{
    private readonly WfVaeModel _model;

    public RawFrameFormat Format { get; }
    /// <summary>Video frames per push after the first frame (a multiple of 4), or 0 for whole-clip inference.</summary>
    public int Chunk { get; }
    public FramePolicy Policy { get; }
    /// <summary>Figures of the last (or current) stream.</summary>
    public StreamStats? Stats { get; private set; }
    /// <summary>Video frames that came in (before padding) in the last stream.</summary>
    public long FramesIn { get; private set; }
    /// <summary>
    /// When true, the arrays of each <see cref="LatentFrames"/> yielded are overwritten by the push after it, so a
    /// consumer must be done with a chunk (written it out, copied it) before asking for the next. For live streams
    /// that write latents as they come: they then allocate no output arrays per push. False (default): every chunk
    /// has arrays of its own, which a consumer may keep.
    /// </summary>
    public bool RecycleLatents { get; init; }

    public StreamingEncoder(WfVaeModel model, RawFrameFormat format, int chunk = 4, FramePolicy policy = FramePolicy.Pad)
    {
        _model = model ?? throw new ArgumentNullException(nameof(model));
        Format = format ?? throw new ArgumentNullException(nameof(format));
        ChunkPolicy.Check(model.Config, chunk, videoFrames: true);
        if (!WfVaeConfig.FitsSpatially(format.Width) || !WfVaeConfig.FitsSpatially(format.Height))
            throw new ArgumentException($"frames must be a multiple of {WfVaeConfig.SpatialCompression} pixels in each direction for the {WfVaeConfig.SpatialCompression}x spatial compression, got {format.Width}x{format.Height}");
        Chunk = chunk;
        Policy = policy;
    }

    /// <summary>
    /// Reads frames from <paramref name="input"/> until the producer completes, yielding latents as they
    /// become computable. The reader is completed when the stream ends. A truncated last frame or a failing
    /// producer throws (InvalidDataException / IOException) after every latent computable from the complete
    /// frames before it was yielded. Cancellation throws OperationCanceledException and frees the device state.
    /// </summary>
    public async IAsyncEnumerable<LatentFrames> EncodeAsync(PipeReader input, [EnumeratorCancellation] CancellationToken ct = default)
    {
        var reader = new RawFrameReader(input, Format);
        var stats = Stats = new StreamStats(_model.Device, "encode", Chunk);
        int frameElements = Format.FrameElements;
        // Whole clip: the buffer grows with the stream (that is what whole-clip means); chunked: one chunk.
        var buffer = new float[(Chunk == 0 ? 33 : Chunk) * frameElements];
        var session = _model.OpenEncoder(Format.Height, Format.Width);
        Exception? failure = null;
        try
        {
            FramesIn = 0;
            long pushedFrames = 0;
            LatentFrames? done = null; // the chunk the consumer asked past: its arrays are free when recycling
            while (true)
            {
                ct.ThrowIfCancellationRequested();
                int want = ChunkPolicy.NextPush(pushedFrames, Chunk);
                int have = 0;
                while (have < want && !reader.Ended)
                {
                    if (Chunk == 0 && have == buffer.Length / frameElements) Array.Resize(ref buffer, 2 * buffer.Length);
                    int room = Math.Min(want, buffer.Length / frameElements) - have;
                    have += await reader.ReadAsync(buffer.AsMemory(have * frameElements), room, ct).ConfigureAwait(false);
                }
                FramesIn += have;
                if (!reader.Ended)
                {
                    done = Push(session, stats, buffer, have, RecycleLatents ? done : null);
                    yield return done;
                    pushedFrames += have;
                    continue;
                }

                // End of stream: complete or leave out the last group, then report what ended the stream badly.
                have = CompleteLastGroup(reader, stats, ref buffer, have, pushedFrames + have, frameElements);
                if (have > 0) yield return Push(session, stats, buffer, have, RecycleLatents ? done : null);
                stats.FramesIn = FramesIn;
                stats.Finish();
                failure = reader.Error;
                break;
            }
        }
        finally
        {
            session.Dispose();
            await reader.CompleteAsync(failure).ConfigureAwait(false);
        }
        if (failure != null) throw failure;
    }

    /// <summary>
    /// The frames to push at the end of a stream of <paramref name="total"/> frames: the incomplete last group left
    /// out (a read error, or <see cref="FramePolicy.Drop"/>) or completed with copies of the last frame (Pad).
    /// </summary>
    private int CompleteLastGroup(RawFrameReader reader, StreamStats stats, ref float[] buffer, int have, long total, int frameElements)
    {
        int rho = WfVaeConfig.TrailingFrames(total);
        if (reader.Error != null || Policy == FramePolicy.Drop)
        {
            if (reader.Error == null) stats.DroppedFrames = rho;
            // They never reach a latent either way (the encoder keeps an incomplete group pending), but GroupNorm's
            // whole-clip statistics include the level-1 frame that frames 4k+1 and 4k+2 make, as the official encoder's do.
            return _model.Config.NormType == NormType.GroupNorm ? have : have - Math.Min(have, rho);
        }
        if (rho == 0) return have;
        int pad = WfVaeConfig.FramesToPad(total);
        if ((have + pad) * frameElements > buffer.Length) Array.Resize(ref buffer, (have + pad) * frameElements);
        var last = buffer.AsSpan((have - 1) * frameElements, frameElements);
        for (int i = 0; i < pad; i++) last.CopyTo(buffer.AsSpan((have + i) * frameElements, frameElements));
        stats.PaddedFrames = pad;
        return have + pad;
    }

    private static LatentFrames Push(EncoderSession session, StreamStats stats, float[] buffer, int frames, LatentFrames? recycle)
    {
        long start = Stopwatch.GetTimestamp();
        var r = session.Push(buffer.AsSpan(0, frames * session.Height * session.Width * 3), frames, recycle);
        stats.Add(frames, r.Frames, Stopwatch.GetElapsedTime(start).TotalMilliseconds, session.Memory);
        return r;
    }
}

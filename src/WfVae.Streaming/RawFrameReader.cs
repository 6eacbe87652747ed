using System.IO.Pipelines;
using WfVae.Model;

namespace WfVae.Streaming;

/// <summary>
/// Cuts a PipeReader's bytes into frames of a <see cref="RawFrameFormat"/>. It only reads while a caller
/// asks for frames, so a caller that stops asking (a busy GPU, a slow consumer) lets the pipe fill up
/// and the pipe's PauseWriterThreshold holds the producer back. Errors never escape
/// <see cref="ReadAsync"/> except cancellation: they are kept in <see cref="Error"/> so that the caller
/// can first finish the frames that arrived before them.
/// </summary>
public sealed class RawFrameReader
{
    private readonly PipeReader _reader;
    private long _trailingBytes;

    public RawFrameFormat Format { get; }
    /// <summary>Complete frames read so far.</summary>
    public long FramesRead { get; private set; }
    /// <summary>True once the producer completed (or failed, or cut a frame short).</summary>
    public bool Ended { get; private set; }
    /// <summary>Why the stream ended badly: a truncated last frame or the producer's exception; null if it ended cleanly.</summary>
    public Exception? Error { get; private set; }

    public RawFrameReader(PipeReader reader, RawFrameFormat format)
    {
        _reader = reader ?? throw new ArgumentNullException(nameof(reader));
        Format = format ?? throw new ArgumentNullException(nameof(format));
    }

    /// <summary>
    /// Reads up to <paramref name="maxFrames"/> frames into <paramref name="dst"/> ([n][3][H][W] floats);
    /// returns how many it read: fewer only when the stream ended (see <see cref="Ended"/>, <see cref="Error"/>).
    /// </summary>
    public async ValueTask<int> ReadAsync(Memory<float> dst, int maxFrames, CancellationToken ct)
    {
        int frameBytes = Format.FrameBytes, frameElements = Format.FrameElements, n = 0;
        while (n < maxFrames && !Ended)
        {
            ReadResult r;
            try
            {
                r = await _reader.ReadAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception e)
            {
                Ended = true;
                Error = new IOException($"the frame producer failed after {FramesRead} complete frames: {e.Message}", e);
                break;
            }
            if (r.IsCanceled) throw new OperationCanceledException("the frame reader was cancelled");
            var buffer = r.Buffer;
            while (n < maxFrames && buffer.Length >= frameBytes && Error == null)
            {
                var frame = dst.Span.Slice(n * frameElements, frameElements);
                Format.ToModel(buffer.Slice(0, frameBytes), frame);
                buffer = buffer.Slice(frameBytes);
                if (NonFiniteFrame(frame) is { } refused)
                {
                    // The frames before it go on; this one and the rest of the input do not.
                    (Ended, Error) = (true, refused);
                    buffer = buffer.Slice(buffer.End);
                    break;
                }
                n++;
                FramesRead++;
            }
            if (r.IsCompleted && buffer.Length < frameBytes)
            {
                Ended = true;
                _trailingBytes = buffer.Length;
                if (_trailingBytes > 0)
                    Error = new InvalidDataException(
                        $"the input ended inside a frame: {_trailingBytes} bytes after {FramesRead} complete frames, " +
                        $"but a frame is {frameBytes} bytes ({Format.Describe()}; total {FramesRead * frameBytes + _trailingBytes} bytes is not a multiple of {frameBytes})");
                buffer = buffer.Slice(buffer.End);
            }
            // Examined up to the end only when no whole frame is left: otherwise the next read must not wait for more bytes.
            _reader.AdvanceTo(buffer.Start, buffer.Length < frameBytes ? buffer.End : buffer.Start);
        }
        return n;
    }

    /// <summary>Float frames may carry NaN or infinities, which would poison every latent after them: refused, naming the frame.</summary>
    private InvalidDataException? NonFiniteFrame(ReadOnlySpan<float> frame)
    {
        if (Format.Pixel != RawPixelFormat.PlanarFloat32) return null;
        int bad = NonFinite.IndexIn(frame);
        return bad < 0 ? null : new InvalidDataException(
            $"frame {FramesRead} of the input holds {NonFinite.At(frame, bad, Format.Height, Format.Width)}; frames must be finite values in [-1, 1]");
    }

    /// <summary>Tells the producer nobody reads any more (its FlushAsync then reports completion instead of waiting).</summary>
    public ValueTask CompleteAsync(Exception? error = null) => _reader.CompleteAsync(error);
}

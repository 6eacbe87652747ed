using WfVae.Model;
using WfVae.Model.Checkpoint;
using WfVae.Streaming;
using WfVae.Streaming.LatentStream;

namespace WfVae.Frei0r;

/// <summary>
/// Frames of a .wfl stream, decoded in order with the decoder's minimal look-ahead: latents are read from the
/// file and pushed one at a time, only when the next frame is wanted. As `wfvae decode` does, a complete
/// stream is cut to its true frame count (the trailer, read in a first pass: latents are small) and one
/// that ends early plays what it holds. <see cref="Restart"/> goes back to the first frame.
/// </summary>
internal sealed class LatentPlayback : IDisposable
{
    private readonly LatentStreamReader _reader;
    private readonly WfVaeModel _model;
    private readonly long? _frameCount;
    private readonly Queue<float[]> _ready = new();
    private StreamingDecoder _decoder;
    private IEnumerator<LatentChunk> _chunks;
    private bool _ended;

    public LatentStreamHeader Header => _reader.Header;
    /// <summary>Latent frames in the file, and why reading stopped early (null for a complete file).</summary>
    public int Latents { get; }
    public string? Incomplete { get; }
    public int FrameElements => _decoder.FrameElements;

    public LatentPlayback(LatentStreamReader reader, WfVaeModel model)
    {
        (_reader, _model) = (reader, model);
        foreach (var c in reader.ReadChunks()) Latents += c.Frames;
        if (reader.Trailer == null) Incomplete = reader.StopReason ?? "no trailer";
        // As `wfvae decode`: padded frames are cut; an unpadded stream ends where its latents end.
        _frameCount = reader.Trailer?.PaddedFrames > 0 ? reader.Trailer.VideoFrames : null;
        (_decoder, _chunks) = Open();
    }

    private (StreamingDecoder, IEnumerator<LatentChunk>) Open()
    {
        // GroupNorm statistics span every frame of a push: such models decode the whole clip at once.
        int chunk = _model.Config.NormType == NormType.GroupNorm ? 0 : 1;
        var decoder = new StreamingDecoder(_model, Header.LatentHeight, Header.LatentWidth, chunk, _frameCount);
        return (decoder, _reader.ReadChunks().GetEnumerator());
    }

    /// <summary>The next frame [3][H][W], or null after the last one.</summary>
    public float[]? Next()
    {
        while (_ready.Count == 0 && !_ended)
        {
            if (_chunks.MoveNext())
            {
                var c = _chunks.Current;
                long values = Header.FrameValues;
                for (int i = 0; i < c.Frames; i++) Queue(_decoder.Push(c.Mean.AsSpan((int)(i * values), (int)values), 1));
            }
            else
            {
                Queue(_decoder.Complete());
                _ended = true;
            }
        }
        return _ready.Count > 0 ? _ready.Dequeue() : null;
    }

    private void Queue(VideoFrames v)
    {
        int size = _decoder.FrameElements;
        for (int i = 0; i < v.Frames; i++) _ready.Enqueue(v.Data.AsSpan(i * size, size).ToArray());
    }

    public void Restart()
    {
        _chunks.Dispose();
        _decoder.Dispose();
        _ready.Clear();
        _ended = false;
        (_decoder, _chunks) = Open();
    }

    public void Dispose()
    {
        _chunks.Dispose();
        _decoder.Dispose();
        _reader.Dispose();
    }
}

using WfVae.Model;
using WfVae.Streaming;

namespace WfVae.Frei0r;

/// <summary>
/// The reconstruct switch: latents are decoded as they come (chunks of one latent) and the frames wait here,
/// as RGBA, until the host's thread takes them. Output frame n is the reconstruction of input frame n − Delay:
/// Delay is the most frames any input frame waits for its reconstruction with the encoder's schedule (the
/// first frame alone, then groups of 4) and the decoder's look-ahead: 5 frames with trilinear time
/// interpolation (a frame 4j − 1 needs latent j + 1, computed when frame 4j + 4 arrives), 3 with nearest.
/// </summary>
internal sealed class Reconstruction : IDisposable
{
    private readonly StreamingDecoder _decoder;
    private readonly RgbaFrames _rgba;
    private readonly Queue<byte[]> _frames = new();
    private long _first;       // index of the frame at the head of the queue
    private bool _ended;
    private Exception? _failure;

    public int Delay { get; }

    public Reconstruction(WfVaeModel model, int height, int width)
    {
        _decoder = new StreamingDecoder(model, height / 8, width / 8, chunk: 1);
        _rgba = new RgbaFrames(width, height);
        Delay = DelayFor(model.Config);
    }

    public static int DelayFor(WfVae.Model.Checkpoint.WfVaeConfig config) => 3 + 2 * StreamingDecoder.OutputDelayFor(config);

    /// <summary>Encoder thread: decodes the new latents and queues the frames they release.</summary>
    public void Add(LatentFrames latents)
    {
        var video = _decoder.Push(latents.Mean, latents.Frames);
        int size = _decoder.FrameElements;
        var ready = new List<byte[]>(video.Frames);
        for (int i = 0; i < video.Frames; i++)
        {
            var rgba = new byte[4 * size / 3];
            _rgba.FromModel(video.Data.AsSpan(i * size, size), rgba);
            ready.Add(rgba);
        }
        lock (_frames)
        {
            foreach (var f in ready) _frames.Enqueue(f);
            Monitor.PulseAll(_frames);
        }
    }

    /// <summary>Encoder thread, at its end: wakes a waiting host thread (with the failure, if any).</summary>
    public void End(Exception? failure)
    {
        lock (_frames)
        {
            (_ended, _failure) = (true, failure);
            Monitor.PulseAll(_frames);
        }
    }

    /// <summary>Host thread: copies the reconstruction of input frame <paramref name="index"/>, waiting for it.</summary>
    public void CopyFrame(long index, Span<byte> rgba)
    {
        lock (_frames)
        {
            while (_first < index && _frames.Count > 0) { _frames.Dequeue(); _first++; }
            while (_frames.Count == 0 || _first > index)
            {
                if (_ended) throw new InvalidOperationException($"the reconstruction of frame {index} never came: {_failure?.Message ?? "the encoder stopped"}", _failure);
                Monitor.Wait(_frames);
                while (_first < index && _frames.Count > 0) { _frames.Dequeue(); _first++; }
            }
            _frames.Peek().CopyTo(rgba);
        }
    }

    public void Dispose() => _decoder.Dispose();
}

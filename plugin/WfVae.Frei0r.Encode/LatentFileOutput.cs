using WfVae.Model;
using WfVae.Streaming;
using WfVae.Streaming.LatentStream;

namespace WfVae.Frei0r;

/// <summary>
/// The .wfl file the filter writes, as `wfvae encode` writes it (same header fields, the same chunks with mean
/// and logvar, the trailer from the encoder's end-of-stream figures). The header needs the frame rate, which
/// may only be known at the second frame: latents that come before it wait here (latent 0 at most).
/// Thread-safe: the encoder thread adds chunks, the host's thread sets the rate and ends the file.
/// </summary>
internal sealed class LatentFileOutput(string path, WfVaeModel model, int height, int width) : IDisposable
{
    private readonly Lock _gate = new();
    private readonly List<LatentFrames> _pending = new();
    private LatentStreamWriter? _writer;

    public bool HasFrameRate { get; private set; }

    public void SetFrameRate((int Num, int Den) fps)
    {
        lock (_gate)
        {
            if (HasFrameRate) return;
            HasFrameRate = true;
            var header = LatentStreamHeader.For(model.Config, model.WeightsHash, height, width, fps.Num, fps.Den, LatentStreamHeader.PolicyPad);
            _writer = LatentStreamWriter.Create(path, header);
            foreach (var chunk in _pending) _writer.WriteChunk(chunk);
            _pending.Clear();
        }
    }

    public void Add(LatentFrames latents)
    {
        lock (_gate)
        {
            if (_writer != null) _writer.WriteChunk(latents);
            else _pending.Add(latents);
        }
    }

    /// <summary>The trailer: the true frame count and the padding the encoder added (policy pad, as the CLI).</summary>
    public void Complete(StreamStats stats)
    {
        lock (_gate) _writer!.Complete(stats.FramesIn, stats.PaddedFrames, stats.DroppedFrames);
    }

    /// <summary>Without <see cref="Complete"/> the writer keeps what it wrote readable (its partial file).</summary>
    public void Dispose()
    {
        lock (_gate) _writer?.Dispose();
    }
}

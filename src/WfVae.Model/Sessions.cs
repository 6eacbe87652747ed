using WfVae.Model.Layers;
using WfVae.Operators;
using WfVae.Runtime;

namespace WfVae.Model;

/// <summary>Latent frames from one push: mean and logvar, frame-major [Frames][L][h][w].</summary>
public sealed record LatentFrames(int FirstFrame, int Frames, float[] Mean, float[] Logvar);

/// <summary>Video frames from one push, frame-major [Frames][3][H][W].</summary>
public sealed record VideoFrames(int FirstFrame, int Frames, float[] Data);

/// <summary>
/// A streaming encode: push frames as they arrive, get the latents that became computable. One
/// submission per push; the session's arena and the layers' caches make device memory independent of
/// the stream length.
/// </summary>
public sealed class EncoderSession : IDisposable
{
    private readonly WfVaeModel _model;
    private readonly ITapSink? _taps;
    private readonly TensorArena _arena;
    private readonly CommandRecorder _rec;
    private readonly StreamContext _ctx;
    private bool _disposed;

    public int Height { get; }
    public int Width { get; }
    public int FramesIn { get; private set; }
    public int LatentsOut { get; private set; }
    /// <summary>GPU time of every dispatch so far (sessions opened with profile: true).</summary>
    public IReadOnlyList<DispatchTiming> Timings => _rec.Timings;

    internal EncoderSession(WfVaeModel model, int height, int width, ITapSink? taps, bool profile)
    {
        if (model.EncoderBusy) throw new InvalidOperationException("this model already has an open encoder session; dispose it first");
        if (height < 8 || width < 8) throw new ArgumentException($"frames must be at least 8x8 pixels, got {width}x{height}");
        _model = model;
        _taps = taps;
        Height = height;
        Width = width;
        _arena = new TensorArena(model.Device);
        _rec = model.Device.BeginCommands(timestamps: profile);
        _ctx = new StreamContext(model.Device, _rec, _arena);
        model.Encoder.Reset();
        model.EncoderBusy = true;
    }

    /// <summary>Latents the next push of <paramref name="frames"/> frames yields.</summary>
    public int OutputFrames(int frames) => _model.Encoder.OutputFrames(frames);

    /// <summary>Encodes <paramref name="count"/> frames given frame-major [count][3][H][W] in [-1, 1].</summary>
    public LatentFrames Push(ReadOnlySpan<float> frames, int count)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        long frameSize = 3L * Height * Width;
        if (frames.Length != count * frameSize)
            throw new ArgumentException($"{count} frames of 3x{Height}x{Width} need {count * frameSize} values, got {frames.Length}");
        int l = _model.Config.LatentDim;
        var x = _arena.Rent(3, count, Height, Width);
        _model.Device.Upload(x, frames);
        var moments = _model.Encoder.Push(_ctx, x, _taps);
        _arena.Return(x);
        var mean = _arena.Rent(l, moments.T, moments.H, moments.W);
        var logvar = _arena.Rent(l, moments.T, moments.H, moments.W);
        if (moments.T > 0) WfVae.Operators.Posterior.Split(_rec, moments, mean, logvar);
        _ctx.Submit();
        (_taps as DeviceTaps)?.Collect();
        var result = new LatentFrames(LatentsOut, moments.T, _model.Device.Download(mean), _model.Device.Download(logvar));
        _arena.Return(moments);
        _arena.Return(mean);
        _arena.Return(logvar);
        FramesIn += count;
        LatentsOut += result.Frames;
        return result;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _rec.Dispose();
        _arena.Dispose();
        _model.Encoder.Reset();
        _model.EncoderBusy = false;
    }
}

/// <summary>A streaming decode: push latent frames, get the video frames that became computable.</summary>
public sealed class DecoderSession : IDisposable
{
    private readonly WfVaeModel _model;
    private readonly ITapSink? _taps;
    private readonly TensorArena _arena;
    private readonly CommandRecorder _rec;
    private readonly StreamContext _ctx;
    private bool _disposed, _ended;

    public int Height { get; }
    public int Width { get; }
    public int LatentsIn { get; private set; }
    public int FramesOut { get; private set; }
    /// <summary>GPU time of every dispatch so far (sessions opened with profile: true).</summary>
    public IReadOnlyList<DispatchTiming> Timings => _rec.Timings;

    internal DecoderSession(WfVaeModel model, int height, int width, ITapSink? taps, bool profile)
    {
        if (model.DecoderBusy) throw new InvalidOperationException("this model already has an open decoder session; dispose it first");
        if (height < 1 || width < 1) throw new ArgumentException($"latent frames must be at least 1x1, got {width}x{height}");
        _model = model;
        _taps = taps;
        Height = height;
        Width = width;
        _arena = new TensorArena(model.Device);
        _rec = model.Device.BeginCommands(timestamps: profile);
        _ctx = new StreamContext(model.Device, _rec, _arena);
        model.Decoder.Reset();
        model.DecoderBusy = true;
    }

    /// <summary>Decodes <paramref name="count"/> latent frames [count][L][h][w]; <paramref name="last"/> ends the stream.</summary>
    public VideoFrames Push(ReadOnlySpan<float> latents, int count, bool last)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_ended) throw new InvalidOperationException("the decoder stream has already ended");
        int l = _model.Config.LatentDim;
        long frameSize = (long)l * Height * Width;
        if (latents.Length != count * frameSize)
            throw new ArgumentException($"{count} latent frames of {l}x{Height}x{Width} need {count * frameSize} values, got {latents.Length}");
        var z = _arena.Rent(l, count, Height, Width);
        if (count > 0) _model.Device.Upload(z, latents);
        var video = _model.Decoder.Push(_ctx, z, last, _taps);
        _arena.Return(z);
        _ctx.Submit();
        (_taps as DeviceTaps)?.Collect();
        var result = new VideoFrames(FramesOut, video.T, video.T > 0 ? _model.Device.Download(video) : Array.Empty<float>());
        _arena.Return(video);
        LatentsIn += count;
        FramesOut += result.Frames;
        _ended = last;
        return result;
    }

    /// <summary>Ends the stream: returns the frames held back for look-ahead.</summary>
    public VideoFrames Flush() => Push(ReadOnlySpan<float>.Empty, 0, last: true);

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _rec.Dispose();
        _arena.Dispose();
        _model.Decoder.Reset();
        _model.DecoderBusy = false;
    }
}

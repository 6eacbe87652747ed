using WfVae.Model;
using WfVae.Model.Checkpoint;
using WfVae.Runtime;

namespace WfVae.Plugin;

/// <summary>
/// What one <c>wfvae_model*</c> stands for: a device, a model on it, at most one encoder and one decoder
/// stream, and the outputs of each waiting to be pulled. Pushes run the engine at once (one submission per
/// push, as the managed sessions do); pulls only copy. Not thread-safe by itself: <see cref="Exports"/>
/// serialises calls on one handle.
/// </summary>
internal sealed class PluginModel : IDisposable
{
    private readonly LoadedModel _loaded;
    private WfVaeModel Model => _loaded.Model;
    private EncoderSession? _encoder;
    private OutputQueue? _means, _logvars;
    private DecoderSession? _decoder;
    private OutputQueue? _frames;
    private bool _closed;

    /// <summary>Pixels per latent along H and W, and frames per latent in time (after the first).</summary>
    public const int SpatialCompression = WfVaeConfig.SpatialCompression, TemporalCompression = WfVaeConfig.TemporalCompression;

    public int LatentChannels => EnsureOpen().Model.Config.LatentDim;

    /// <summary>Where this handle's device logs; <see cref="Exports"/> opens a <see cref="CallLog.Call"/> scope per call.</summary>
    public CallLog Log { get; }

    private PluginModel(LoadedModel loaded, CallLog log) => (_loaded, Log) = (loaded, log);

    /// <summary>A null or blank selector means the runtime's default rule (WFVAE_DEVICE, then discrete &gt; ... &gt; CPU).</summary>
    public static PluginModel Open(string modelPath, string? deviceSelector)
    {
        var log = new CallLog();
        using (log.Call()) return new(LoadedModel.Open(modelPath, deviceSelector, null, log.Write), log);
    }

    // ------------------------------------------------------------------ encoder

    public void BeginEncoder(int height, int width)
    {
        EnsureOpen();
        if (_encoder != null) throw new InvalidOperationException("an encoder stream is already open on this model; call wfvae_encoder_end first");
        if (!WfVaeConfig.FitsSpatially(height) || !WfVaeConfig.FitsSpatially(width))
            throw new ArgumentException($"frame height and width must be multiples of {SpatialCompression}, got {width}x{height}");
        CheckSide(height, width, "frame");
        OneFrame(3L * height * width, $"frame of {width}x{height}"); // what each push of one frame takes
        int latentSize = OneFrame((long)LatentChannels * WfVaeConfig.LatentSize(height) * WfVaeConfig.LatentSize(width), $"latent frame of {width}x{height}");
        _encoder = Model.OpenEncoder(height, width);
        _means = new OutputQueue(latentSize);
        _logvars = new OutputQueue(latentSize);
    }

    public long FrameValues => 3L * Encoder.Height * Encoder.Width;

    public void PushFrames(ReadOnlySpan<float> frames, int count)
    {
        var encoder = Encoder; // no stream open is a state error even for an empty push
        if (count == 0) return;
        var latents = encoder.Push(frames, count);
        _means!.Append(latents.Mean, latents.Frames);
        _logvars!.Append(latents.Logvar, latents.Frames);
    }

    public int LatentsAvailable
    {
        get { _ = Encoder; return _means!.Count; }
    }

    public long LatentValues => (long)LatentChannels * WfVaeConfig.LatentSize(Encoder.Height) * WfVaeConfig.LatentSize(Encoder.Width);

    public int PullLatents(Span<float> mean, Span<float> logvar, bool withLogvar, int maxFrames)
    {
        _ = Encoder;
        int n = _means!.Take(mean, maxFrames);
        // Mean and logvar queues always hold the same frames: drop the logvar the caller did not ask for.
        if (withLogvar) _logvars!.Take(logvar, n);
        else _logvars!.Drop(n);
        return n;
    }

    public void EndEncoder() => EnsureOpen().ReleaseEncoder();

    private void ReleaseEncoder()
    {
        _encoder?.Dispose();
        _encoder = null;
        _means = _logvars = null;
    }

    private EncoderSession Encoder => EnsureOpen()._encoder ?? throw new InvalidOperationException("no encoder stream is open on this model; call wfvae_encoder_begin first");

    /// <summary>One frame's values as an array length, or the argument error a host gets at begin rather than at its first push.</summary>
    private static int OneFrame(long values, string what) =>
        values <= Array.MaxLength ? (int)values
            : throw new ArgumentException($"a {what} holds {values} values, more than one buffer can hold ({Array.MaxLength})");

    /// <summary>
    /// Frame sides the plugin accepts: positive and at most 65536 (what a latent stream header allows), so that a
    /// host's bad size is an argument error; the frame buffers are checked against the largest array (<see cref="OneFrame"/>).
    /// </summary>
    private static void CheckSide(long height, long width, string what)
    {
        const long max = 1 << 16;
        if (height < 1 || width < 1 || height > max || width > max)
            throw new ArgumentException($"{what} size {width}x{height} is outside 8..{max} pixels per side");
    }

    // ------------------------------------------------------------------ decoder

    public void BeginDecoder(int latentHeight, int latentWidth)
    {
        EnsureOpen();
        if (_decoder != null) throw new InvalidOperationException("a decoder stream is already open on this model; call wfvae_decoder_end first");
        CheckSide(latentHeight * (long)SpatialCompression, latentWidth * (long)SpatialCompression, "latent frame (x8)");
        int frameSize = OneFrame(3L * WfVaeConfig.PixelSize(latentHeight) * WfVaeConfig.PixelSize(latentWidth), $"frame of latent size {latentWidth}x{latentHeight}");
        _decoder = Model.OpenDecoder(latentHeight, latentWidth);
        _frames = new OutputQueue(frameSize);
    }

    public long LatentInputValues => (long)LatentChannels * Decoder.Height * Decoder.Width;

    public long FrameOutputValues => 3L * WfVaeConfig.PixelSize(Decoder.Height) * WfVaeConfig.PixelSize(Decoder.Width);

    public void PushLatents(ReadOnlySpan<float> latents, int count)
    {
        var decoder = Decoder;
        if (count == 0 && !decoder.Ended) return; // after the flush an empty push is refused as any other
        var video = decoder.Push(latents, count, last: false);
        _frames!.Append(video.Data, video.Frames);
    }

    public void Flush()
    {
        var video = Decoder.Flush();
        _frames!.Append(video.Data, video.Frames);
    }

    public int FramesAvailable
    {
        get { _ = Decoder; return _frames!.Count; }
    }

    public int PullFrames(Span<float> destination, int maxFrames)
    {
        _ = Decoder;
        return _frames!.Take(destination, maxFrames);
    }

    public void EndDecoder() => EnsureOpen().ReleaseDecoder();

    private void ReleaseDecoder()
    {
        _decoder?.Dispose();
        _decoder = null;
        _frames = null;
    }

    private DecoderSession Decoder => EnsureOpen()._decoder ?? throw new InvalidOperationException("no decoder stream is open on this model; call wfvae_decoder_begin first");

    /// <summary>
    /// A thread that looked the handle up just before another closed it gets here after the close (it
    /// waited on the handle's lock): it must see a closed handle, not a disposed device.
    /// </summary>
    private PluginModel EnsureOpen() => _closed ? throw new HandleException("the model handle was closed") : this;

    public void Dispose()
    {
        if (_closed) return;
        _closed = true;
        ReleaseEncoder();
        ReleaseDecoder();
        _loaded.Dispose();
    }
}

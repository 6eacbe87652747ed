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
    private readonly VulkanDevice _device;
    private readonly WfVaeModel _model;
    private EncoderSession? _encoder;
    private OutputQueue? _means, _logvars;
    private DecoderSession? _decoder;
    private OutputQueue? _frames;
    private bool _closed;

    /// <summary>Pixels per latent along H and W, and frames per latent in time (after the first).</summary>
    public const int SpatialCompression = WfVaeConfig.SpatialCompression, TemporalCompression = WfVaeConfig.TemporalCompression;

    public int LatentChannels => EnsureOpen()._model.Config.LatentDim;

    private PluginModel(VulkanDevice device, WfVaeModel model)
    {
        _device = device;
        _model = model;
    }

    public static PluginModel Open(string modelPath, string? deviceSelector)
    {
        // A null selector means the runtime's default rule: WFVAE_DEVICE, then discrete > integrated > ... > CPU.
        var device = VulkanDevice.Create(new DeviceOptions { Selector = deviceSelector, Log = PluginLog.Write });
        try
        {
            return new PluginModel(device, WfVaeModel.Load(modelPath, device));
        }
        catch
        {
            device.Dispose();
            throw;
        }
    }

    // ------------------------------------------------------------------ encoder

    public void BeginEncoder(int height, int width)
    {
        EnsureOpen();
        if (_encoder != null) throw new InvalidOperationException("an encoder stream is already open on this model; call wfvae_encoder_end first");
        if (!WfVaeConfig.FitsSpatially(height) || !WfVaeConfig.FitsSpatially(width))
            throw new ArgumentException($"frame height and width must be multiples of {SpatialCompression}, got {width}x{height}");
        _encoder = _model.OpenEncoder(height, width);
        int latentSize = LatentChannels * WfVaeConfig.LatentSize(height) * WfVaeConfig.LatentSize(width);
        _means = new OutputQueue(latentSize);
        _logvars = new OutputQueue(latentSize);
    }

    public long FrameValues => 3L * Encoder.Height * Encoder.Width;

    public void PushFrames(ReadOnlySpan<float> frames, int count)
    {
        if (count == 0) return;
        var latents = Encoder.Push(frames, count);
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

    // ------------------------------------------------------------------ decoder

    public void BeginDecoder(int latentHeight, int latentWidth)
    {
        EnsureOpen();
        if (_decoder != null) throw new InvalidOperationException("a decoder stream is already open on this model; call wfvae_decoder_end first");
        _decoder = _model.OpenDecoder(latentHeight, latentWidth);
        _frames = new OutputQueue(3 * WfVaeConfig.PixelSize(latentHeight) * WfVaeConfig.PixelSize(latentWidth));
    }

    public long LatentInputValues => (long)LatentChannels * Decoder.Height * Decoder.Width;

    public long FrameOutputValues => 3L * WfVaeConfig.PixelSize(Decoder.Height) * WfVaeConfig.PixelSize(Decoder.Width);

    public void PushLatents(ReadOnlySpan<float> latents, int count)
    {
        if (count == 0) return;
        var video = Decoder.Push(latents, count, last: false);
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
        _model.Dispose();
        _device.Dispose();
    }
}

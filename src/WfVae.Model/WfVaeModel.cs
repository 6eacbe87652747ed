using WfVae.Model.Checkpoint;
using WfVae.Model.Layers;
using WfVae.Operators;
using WfVae.Runtime;

namespace WfVae.Model;

/// <summary>
/// A loaded WF-VAE: immutable weights on the device, an encoder and a decoder graph that hold nothing of a stream
/// (sessions own their stream state, so one model serves any number of concurrent streams). Whole-clip
/// <see cref="Encode"/>/<see cref="Decode"/> are one push of every frame through the same stream objects
/// that chunked streaming uses, so both give the same numbers.
/// </summary>
public sealed class WfVaeModel : IDisposable
{
    private readonly bool _ownsDevice;
    private readonly List<IDisposable> _weights = new();
    private readonly WfVaeCheckpoint _checkpoint;
    internal readonly Encoder Encoder;
    internal readonly Decoder Decoder;
    /// <summary>Slots of a stream state: one per stateful layer of the encoder and the decoder.</summary>
    internal readonly int StateSlots;
    /// <summary>Sessions not disposed yet, which <see cref="Dispose"/> closes; locked while one opens or closes.</summary>
    internal readonly HashSet<StreamSession> OpenSessions = new();
    private bool _disposed;

    public WfVaeConfig Config => _checkpoint.Config;
    public VulkanDevice Device { get; }
    /// <summary>SHA-256 of the weights file, identifying the model in latent streams.</summary>
    public string WeightsHash => _checkpoint.WeightsHash;
    /// <summary>Storage precision of weights and activations on the device (arithmetic is fp32 in both).</summary>
    public Precision Precision { get; }
    /// <summary>Device bytes the weights occupy.</summary>
    public long WeightBytes { get; }
    /// <summary>Parameters as PyTorch's parameters() counts them (the encoder's fixed 3D Haar filters included).</summary>
    public long EncoderParameters => WeightManifest.TorchParameterCount(Config, ModelPart.Encoder);
    public long DecoderParameters => WeightManifest.TorchParameterCount(Config, ModelPart.Decoder);

    private WfVaeModel(VulkanDevice device, bool ownsDevice, WfVaeCheckpoint checkpoint, Precision precision)
    {
        Device = device;
        _ownsDevice = ownsDevice;
        _checkpoint = checkpoint;
        Precision = precision;
        long before = device.Memory.CurrentBytes;
        var source = new WeightSource(device, checkpoint, _weights, precision);
        try
        {
            Encoder = new Encoder(source);
            Decoder = new Decoder(source);
        }
        catch
        {
            // A weight refused late (NaN, wrong size) leaves the earlier ones on the device, which outlives a model
            // that does not own it.
            foreach (var w in _weights) w.Dispose();
            throw;
        }
        StateSlots = source.State.Count;
        WeightBytes = device.Memory.CurrentBytes - before;
    }

    /// <summary>
    /// Loads a checkpoint (a folder with config.json and a .safetensors file, or a .safetensors file with
    /// <paramref name="configPath"/> or a config.json beside it) onto <paramref name="device"/> (default: the
    /// selected Vulkan device, which the model then owns), in <paramref name="precision"/> (default
    /// <see cref="PrecisionInfo.DefaultFor"/>: fp16 where the device offers it).
    /// </summary>
    public static WfVaeModel Load(string modelPath, VulkanDevice? device = null, string? configPath = null, Precision? precision = null)
        => LoadCore(modelPath, device, DeviceOptions.Default, configPath, precision);

    /// <summary>
    /// Loads like <see cref="Load(string, VulkanDevice?, string?, Precision?)"/> onto a new device made from
    /// <paramref name="deviceOptions"/>, which the model owns: disposing the model releases the device and saves its
    /// pipeline cache, so the next process starts warm.
    /// </summary>
    public static WfVaeModel LoadOwning(string modelPath, DeviceOptions deviceOptions, string? configPath = null, Precision? precision = null)
        => LoadCore(modelPath, null, deviceOptions, configPath, precision);

    private static WfVaeModel LoadCore(string modelPath, VulkanDevice? device, DeviceOptions options, string? configPath, Precision? precision)
    {
        OperatorShaders.Verify();
        var checkpoint = WfVaeCheckpoint.Load(modelPath, configPath);
        bool owns = device == null;
        try
        {
            device ??= VulkanDevice.Create(options);
            var p = precision is { } chosen ? PrecisionInfo.Resolve(device, chosen) : PrecisionInfo.DefaultFor(device);
            return new WfVaeModel(device, owns, checkpoint, p);
        }
        catch
        {
            checkpoint.Dispose();
            if (owns) device?.Dispose();
            throw;
        }
    }

    /// <summary>Starts a streaming encode: a session with its own stream state (any number may be open, on any threads).</summary>
    public EncoderSession OpenEncoder(int height, int width, ITapSink? taps = null, bool profile = false) => new(this, height, width, taps, profile);

    /// <summary>Starts a streaming decode: a session with its own stream state (any number may be open, on any threads).</summary>
    public DecoderSession OpenDecoder(int height, int width, ITapSink? taps = null, bool profile = false) => new(this, height, width, taps, profile);

    /// <summary>
    /// Encodes a video [N, 3, T, H, W] with values in [-1, 1] to its posterior. Frames after the last
    /// complete group of 4 do not reach a latent (official behaviour); see the streaming API for padding.
    /// </summary>
    public Posterior Encode(HostTensor video, ITapSink? taps = null)
    {
        if (video.C != 3) throw new ArgumentException($"video must have 3 channels (RGB), got shape {video.ShapeText}");
        int t = WfVaeConfig.LatentFrames(video.T), l = Config.LatentDim, h = WfVaeConfig.LatentSize(video.H), w = WfVaeConfig.LatentSize(video.W);
        var mean = new HostTensor(video.N, l, t, h, w);
        var logvar = new HostTensor(video.N, l, t, h, w);
        for (int n = 0; n < video.N; n++)
        {
            using var session = OpenEncoder(video.H, video.W, taps);
            var chunk = session.Push(video.ToFrameMajor(n), video.T);
            mean.SetFrames(n, 0, chunk.Mean, chunk.Frames);
            logvar.SetFrames(n, 0, chunk.Logvar, chunk.Frames);
        }
        return new Posterior(this, mean, logvar);
    }

    /// <summary>Decodes latents [N, L, t, h, w] to video [N, 3, 4t − 3, 8h, 8w] (not clamped; <see cref="WfVaeConfig.VideoFrames"/>).</summary>
    public HostTensor Decode(HostTensor latents, ITapSink? taps = null)
    {
        if (latents.C != Config.LatentDim) throw new ArgumentException($"latents must have {Config.LatentDim} channels for this model, got shape {latents.ShapeText}");
        var video = new HostTensor(latents.N, 3, WfVaeConfig.VideoFrames(latents.T), WfVaeConfig.PixelSize(latents.H), WfVaeConfig.PixelSize(latents.W));
        for (int n = 0; n < latents.N; n++)
        {
            using var session = OpenDecoder(latents.H, latents.W, taps);
            var frames = session.Push(latents.ToFrameMajor(n), latents.T, last: true);
            video.SetFrames(n, 0, frames.Data, frames.Frames);
        }
        return video;
    }

    /// <summary>
    /// Throws <see cref="ObjectDisposedException"/> once the model is disposed; hold <see cref="OpenSessions"/> where the
    /// check must not race a Dispose (opening a session).
    /// </summary>
    internal void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>
    /// Releases the weights, and the device when the model owns it. Sessions still open are closed first, while the
    /// device they use exists: their pushes then throw <see cref="ObjectDisposedException"/> naming the model, and
    /// disposing them does nothing. Dispose the model only when no session is in the middle of a push.
    /// </summary>
    public void Dispose()
    {
        lock (OpenSessions)
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var s in OpenSessions) s.CloseWithModel();
            OpenSessions.Clear();
        }
        foreach (var w in _weights) w.Dispose();
        _checkpoint.Dispose();
        Device.Memory.Trim();
        if (_ownsDevice) Device.Dispose();
    }
}

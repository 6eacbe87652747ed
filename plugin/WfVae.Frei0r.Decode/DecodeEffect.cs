using WfVae.Plugin;
using WfVae.Runtime;
using WfVae.Streaming.LatentStream;

namespace WfVae.Frei0r;

/// <summary>
/// wfvae_decode, a frei0r source: plays a .wfl latent stream as video, one frame per call, at the size the
/// stream declares (the host must be set to it). Hosts pass frame times in different units (ffmpeg: ms,
/// GStreamer and MLT: seconds), so times only order the calls: a later time is the next frame, the same time
/// the same frame again, an earlier time starts over from the first frame. After the last frame the last
/// frame stays on screen. The parameters are read at the first frame.
/// </summary>
internal sealed class DecodeEffect(int width, int height) : Frei0rEffect(width, height)
{
    public const int Wfl = 0, ModelPath = 1, Device = 2, PrecisionName = 3;

    public static readonly Frei0rDescription Description = new(
        "wfvae_decode", F0r.PluginTypeSource,
        "WF-VAE latent decoder: plays a .wfl latent stream as video",
        [
            new("wfl", F0r.ParamString, "path of the .wfl latent stream to play (required)"),
            new("model", F0r.ParamString, "model folder or .safetensors file; empty = the shipped default model, if the stream was encoded with it"),
            new("device", F0r.ParamString, "Vulkan device index or name substring; empty = the default device"),
            new("precision", F0r.ParamString, "fp32 or fp16; empty = the device's default"),
        ]);

    private LoadedModel? _model;
    private LatentPlayback? _playback;
    private RgbaFrames? _rgba;
    private byte[]? _last;
    private double _lastTime;
    private long _shown;
    private bool _endReported;

    protected override void Render(double time, ReadOnlySpan<byte> input, Span<byte> output)
    {
        _playback ??= Start();
        if (_shown > 0 && time == _lastTime)
        {
            _last.CopyTo(output);
            return;
        }
        if (_shown > 0 && time < _lastTime)
        {
            _playback.Restart();
            _shown = 0;
            _endReported = false;
        }
        _lastTime = time;
        if (_playback.Next() is { } frame)
        {
            _rgba!.FromModel(frame, output);
            output.CopyTo(_last ??= new byte[FrameBytes]);
            _shown++;
            return;
        }
        if (!_endReported) HostLog.Line($"end of {Parameters.String(Wfl)} after {_shown} frames; the last frame stays on screen");
        _endReported = true;
        if (_last != null) _last.CopyTo(output);
        else PassThrough(default, output);
    }

    private LatentPlayback Start()
    {
        string path = Parameters.String(Wfl);
        if (path.Length == 0) throw new ArgumentException("no .wfl path: the first parameter (wfl) must name the latent stream to play");
        var reader = LatentStreamReader.Open(path);
        try
        {
            var h = reader.Header;
            if ((h.VideoWidth, h.VideoHeight) != (Width, Height))
                throw new ArgumentException($"{path} holds {h.VideoWidth}x{h.VideoHeight} video but the host asked for {Width}x{Height}; set the source size to {h.VideoWidth}x{h.VideoHeight}");
            if (h.SourceWidth != null || h.SourceHeight != null)
                HostLog.Line($"{path} was edge-padded from {h.OutputSize.Width}x{h.OutputSize.Height}: frames are shown at the padded {h.VideoWidth}x{h.VideoHeight}");
            _model = OpenModel(h, path);
            if (h.LatentChannels != _model.Model.Config.LatentDim)
                throw new InvalidDataException($"{path} holds latents of {h.LatentChannels} channels; the model has {_model.Model.Config.LatentDim}");
            var playback = new LatentPlayback(reader, _model.Model);
            if (playback.Incomplete is { } why) HostLog.Line($"warning: {path} is incomplete ({why}); playing its {playback.Latents} latent frames");
            _rgba = new RgbaFrames(Width, Height);
            return playback;
        }
        catch
        {
            reader.Dispose();
            throw;
        }
    }

    /// <summary>The model parameter, or the shipped default when the stream was made with it (checked by the weights' hash).</summary>
    private LoadedModel OpenModel(LatentStreamHeader h, string path)
    {
        Precision? precision = Parameters.String(PrecisionName) is { Length: > 0 } p ? PrecisionInfo.Parse(p) : null;
        string given = Parameters.String(ModelPath);
        var model = LoadedModel.Open(given.Length > 0 ? given : PluginFiles.DefaultModel(), Parameters.String(Device), precision, HostLog.Line);
        if (string.Equals(h.WeightsSha256, model.Model.WeightsHash, StringComparison.OrdinalIgnoreCase)) return model;
        if (given.Length > 0)
        {
            HostLog.Line($"warning: {path} was encoded with other weights (sha256 {h.WeightsSha256[..16]}…) than {given}");
            return model;
        }
        model.Dispose();
        throw new InvalidDataException($"{path} was encoded with weights (sha256 {h.WeightsSha256[..16]}…) other than the shipped default model's; give its model path as the second parameter");
    }

    protected override void Finish(bool failed)
    {
        _playback?.Dispose();
        _model?.Dispose();
        (_playback, _model) = (null, null);
    }
}

using WfVae.Runtime;

namespace WfVae.Frei0r;

/// <summary>
/// wfvae_encode, a frei0r filter: frames pass through (or, with "reconstruct", are replaced by the model's
/// reconstruction <see cref="Reconstruction.Delay"/> frames late) while their latents stream into a .wfl file.
/// The parameters are read at the first frame; destroying the instance ends the stream with the CLI's
/// end-of-stream rule, so no frame is lost. A call at the previous time shows the same frame again (MLT re-renders
/// its last frame at the end): it is not encoded twice. An earlier time (a seek back) passes its frame through.
/// </summary>
internal sealed class EncodeEffect(int width, int height) : Frei0rEffect(width, height)
{
    public const int Wfl = 0, ModelPath = 1, Reconstruct = 2, Device = 3, PrecisionName = 4, Fps = 5;

    public static readonly Frei0rDescription Description = new(
        "wfvae_encode", F0r.PluginTypeFilter,
        "WF-VAE latent encoder: writes the video's latents to a .wfl stream; frames pass through, or are replaced by the reconstruction",
        [
            new("wfl", F0r.ParamString, "path of the .wfl latent stream to write (required)"),
            new("model", F0r.ParamString, "model folder or .safetensors file; empty = the shipped default model"),
            new("reconstruct", F0r.ParamBool, "show the model's reconstruction instead of the input, 5 frames late (3 for nearest time interpolation)"),
            new("device", F0r.ParamString, "Vulkan device index or name substring; empty = the default device"),
            new("precision", F0r.ParamString, "fp32 or fp16; empty = the device's default"),
            new("fps", F0r.ParamString, "frame rate recorded in the .wfl (25, 30000/1001); empty = from the host's frame times"),
        ]);

    private EncodeRun? _run;
    private long _frames;
    private double _firstTime, _lastTime;
    private byte[]? _lastOutput;

    protected override void Render(double time, ReadOnlySpan<byte> input, Span<byte> output)
    {
        if (_frames > 0 && time <= _lastTime)
        {
            // The same time is the frame shown again; an earlier one (a seek back, a loop) is not part of the stream.
            if (time == _lastTime) _lastOutput.CopyTo(output);
            else input.CopyTo(output);
            return;
        }
        _run ??= Start();
        if (_frames == 0) _firstTime = time;
        else if (!_run.Output.HasFrameRate) _run.Output.SetFrameRate(FrameRateGuess.FromTimes(_firstTime, time));
        _run.Push(input);
        if (_run.Reconstruction is { } r) r.CopyFrame(Math.Max(0, _frames - r.Delay), output);
        else input.CopyTo(output);
        output.CopyTo(_lastOutput ??= new byte[FrameBytes]);
        _lastTime = time;
        _frames++;
    }

    private EncodeRun Start()
    {
        string wfl = Parameters.String(Wfl);
        if (wfl.Length == 0) throw new ArgumentException("no .wfl path: the first parameter (wfl) must name the latent stream to write");
        string model = Parameters.String(ModelPath) is { Length: > 0 } m ? m : PluginFiles.DefaultModel();
        Precision? precision = Parameters.String(PrecisionName) is { Length: > 0 } p ? PrecisionInfo.Parse(p) : null;
        var fps = Parameters.String(Fps) is { Length: > 0 } f ? FrameRateGuess.Parse(f) : ((int, int)?)null;
        var run = EncodeRun.Start(wfl, model, Parameters.String(Device), precision, Parameters.Bool(Reconstruct), Width, Height);
        if (fps is { } known) run.Output.SetFrameRate(known);
        return run;
    }

    protected override void Finish(bool failed)
    {
        if (_run == null) return; // no frame came (GStreamer builds one such instance to read the defaults)
        using var run = _run;
        _run = null;
        if (!failed) run.Finish((25, 1));
    }
}

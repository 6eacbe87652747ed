using System.Text.Json;
using WfVae.Model;
using WfVae.Model.Checkpoint;
using WfVae.Runtime;

namespace WfVae.Cli;

/// <summary>info, and the helpers encode/decode share (model loading, tensor reading, output metadata).</summary>
internal static class ModelCommands
{
    public static int Info(Options o, TextWriter stdout, TextWriter stderr)
    {
        if (o.Get("--input") is { } input)
        {
            if (o.Has("--model")) throw new UsageException("info describes a model (--model) or an input (--input), not both; run it once for each");
            StreamOptions.RefuseIgnored(o, "on info --input (no model is loaded)", ["--height", "--width", "--chunk", .. Verbs.Model.Except(["--verbose"])]);
            StreamOptions.RefuseIgnored(o, "on info (it reads no frames)", "--frames");
            StreamOptions.RefuseIgnored(o, "on info (it pads nothing; it says when a video would need --pad)", "--pad");
            return InputInfo(o, input, stdout);
        }
        StreamOptions.RefuseIgnored(o, "without --input (it tells how an input video is read)", Verbs.VideoInput);
        if (!MemoryPlanInfo.Requested(o) && o.Has("--chunk")) throw new UsageException("--chunk needs --height and --width (the frame size the memory plan is for)");
        using var model = LoadModel(o, stderr, "info");
        var c = model.Config;
        stdout.WriteLine($"model:      {o.Get("--model") ?? DefaultModel.Locate()}");
        stdout.WriteLine($"device:     {model.Device.Info}");
        stdout.WriteLine($"precision:  {model.Precision.Name()} storage, fp32 arithmetic{(o.Precision == null ? " (device default; --precision fp32|fp16 chooses)" : "")}");
        stdout.WriteLine($"config:     base_channels={c.BaseChannels} latent_dim={c.LatentDim} encoder_energy_flow_hidden_size={c.EncoderEnergyFlowHiddenSize} decoder_energy_flow_hidden_size={c.DecoderEnergyFlowHiddenSize}");
        stdout.WriteLine($"            encoder_num_resblocks={c.EncoderNumResBlocks} decoder_num_resblocks={c.DecoderNumResBlocks} connect_res_layer_num={c.ConnectResLayerNum}");
        stdout.WriteLine($"            norm_type={c.NormType.ToString().ToLowerInvariant()} t_interpolation={c.TemporalInterpolation.ToString().ToLowerInvariant()} use_attention={c.UseAttention.ToString().ToLowerInvariant()}");
        stdout.WriteLine($"            scale=[{string.Join(", ", c.Scale)}] shift=[{string.Join(", ", c.Shift)}]");
        stdout.WriteLine($"parameters: encoder {model.EncoderParameters:N0}, decoder {model.DecoderParameters:N0}, total {model.EncoderParameters + model.DecoderParameters:N0}");
        stdout.WriteLine($"weights:    {model.WeightBytes / 1048576.0:F1} MiB on the device (sha256 {model.WeightsHash[..16]}…)");
        stdout.WriteLine($"streaming:  {(c.NormType == NormType.LayerNorm ? "exact (LayerNorm model)" : "whole clip only (GroupNorm pools over time)")}");
        if (MemoryPlanInfo.Requested(o)) MemoryPlanInfo.Print(o, model, stdout);
        return 0;
    }

    /// <summary>info --input: what the tools would read from a .wfl latent stream or a video (size, rate, codec).</summary>
    private static int InputInfo(Options o, string input, TextWriter stdout)
    {
        if (InputFormats.Of(input) == InputFormat.LatentStream)
        {
            StreamOptions.RefuseIgnored(o, "on a latent stream input (it tells how a video is read)", Verbs.VideoInput);
            using var r = WfVae.Streaming.LatentStream.LatentStreamReader.Open(input);
            var h = r.Header;
            int latents = r.ReadChunks().Sum(c => c.Frames);
            stdout.WriteLine($"latent stream: {input} ({h.Producer}, weights sha256 {h.WeightsSha256[..16]}…)");
            stdout.WriteLine($"latents:       {latents} x {h.LatentChannels}x{h.LatentHeight}x{h.LatentWidth}, frame policy {h.FramePolicy}");
            stdout.WriteLine($"video:         {h.OutputSize.Width}x{h.OutputSize.Height}{(h.SourceWidth != null ? $" (padded to {h.VideoWidth}x{h.VideoHeight})" : "")} at {h.FrameRateNum}/{h.FrameRateDen} fps");
            stdout.WriteLine(r.Trailer is { } t
                ? $"complete:      {t.VideoFrames} video frames, {t.PaddedFrames} padded, {t.DroppedFrames} dropped"
                : $"incomplete:    {r.StopReason}");
            return 0;
        }
        using var source = FrameSource.Open(o, input, Console.Error, "info");
        stdout.WriteLine($"input:  {source.Description}");
        var f = source.Format;
        bool fits = WfVaeConfig.FitsSpatially(f.Width) && WfVaeConfig.FitsSpatially(f.Height);
        stdout.WriteLine($"frames: {f.Width}x{f.Height}{(fits ? "" : $" (not a multiple of {WfVaeConfig.SpatialCompression}: needs --pad, to {WfVaeConfig.PaddedSize(f.Width)}x{WfVaeConfig.PaddedSize(f.Height)}, or --vf scale=...)")}" +
                         $"{(source.TotalFrames is { } n ? $", {n} frames" : "")}");
        return 0;
    }

    /// <summary>
    /// Loads --model, or the shipped default model when --model is omitted (one stderr line names it). Untrained
    /// weights (marker file or model card) print a warning on every use.
    /// </summary>
    internal static WfVaeModel LoadModel(Options o, TextWriter stderr, string verb)
    {
        string path = ModelPath(o, stderr, verb);
        if (DefaultModel.IsUntrained(path)) stderr.WriteLine($"wfvae {verb}: {DefaultModel.UntrainedWarning(path)}");
        return WfVaeModel.LoadOwning(path, o.DeviceOptions, o.Get("--config"), o.Precision);
    }

    internal static string ModelPath(Options o, TextWriter stderr, string verb)
    {
        if (o.Get("--model") is { } given) return given;
        if (o.Has("--config")) throw new UsageException("--config needs --model (the weights it describes)");
        string path = DefaultModel.Locate();
        stderr.WriteLine($"wfvae {verb}: model: the shipped default model ({path}); --model chooses another");
        return path;
    }

    internal static Dictionary<string, string> Metadata(WfVaeModel model, int frames) => new()
    {
        ["format"] = "pt",
        ["producer"] = "wfvae (WfVae.Vulkan)",
        ["weights_sha256"] = model.WeightsHash,
        ["precision"] = model.Precision.Name(),
        ["frames"] = frames.ToString(),
        ["config"] = JsonSerializer.Serialize(new { model.Config.LatentDim, model.Config.BaseChannels }),
    };

    /// <summary>Reads a [N,C,T,H,W] (or [C,T,H,W]) tensor by name, with errors that name the file and tensor.</summary>
    internal static HostTensor ReadTensor(string path, string name, int expectChannels)
    {
        using var file = SafetensorsFile.Open(path);
        if (!file.Tensors.TryGetValue(name, out var info))
            throw new InvalidDataException($"{path} has no tensor '{name}' (it has: {string.Join(", ", file.Tensors.Keys)}); choose one with --tensor");
        if (!info.DType.IsFloatingPoint())
            throw new InvalidDataException($"tensor '{name}' in {path} is {info.DType}; video and latents are floating point (F32, F16, BF16 or F64)");
        var s = info.Shape;
        if (s.Length == 4) s = new long[] { 1, s[0], s[1], s[2], s[3] };
        if (s.Length != 5)
            throw new InvalidDataException($"tensor '{name}' in {path} has shape [{string.Join(", ", info.Shape)}]; expected [N, C, T, H, W]");
        if (s[1] != expectChannels)
            throw new InvalidDataException($"tensor '{name}' in {path} has {s[1]} channels (shape [{string.Join(", ", info.Shape)}]); expected {expectChannels}");
        return new HostTensor(file.ReadFloat32(name), (int)s[0], (int)s[1], (int)s[2], (int)s[3], (int)s[4]);
    }
}

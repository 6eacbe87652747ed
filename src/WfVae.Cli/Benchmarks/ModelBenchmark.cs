using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using WfVae.Model;
using WfVae.Model.Checkpoint;
using WfVae.Runtime;

namespace WfVae.Cli.Benchmarks;

/// <summary>
/// Whole-clip encode and decode of a model on a synthetic clip: median wall time of several runs after a
/// warm-up, peak device memory, and a profiled run whose timestamps give GPU time and GFLOP/s per layer.
/// </summary>
public static class ModelBenchmark
{
    public sealed record LayerTime(string Name, double Ms, double Gflop, double GflopPerS, double PercentOfPeak);

    public sealed record Result(
        string Device, string Precision, string Model, int Frames, int Height, int Width, int Runs,
        double EncodeS, double DecodeS, double EncodeGflop, double DecodeGflop, long EncodePeakBytes, long DecodePeakBytes, long WeightBytes,
        double PeakGflopPerS, double[] EncodeRunsS, double[] DecodeRunsS, LayerTime[] EncoderLayers, LayerTime[] DecoderLayers,
        LayerTime[] EncoderKernels, LayerTime[] DecoderKernels, string CooperativeMatrix)
    {
        /// <summary>Peak device bytes of encode or decode, whichever is higher (weights included).</summary>
        public long PeakDeviceBytes => Math.Max(EncodePeakBytes, DecodePeakBytes);
        public double EncodeFramesPerS => Frames / EncodeS;
        public double DecodeFramesPerS => Frames / DecodeS;
        public double EncodeGflopPerS => EncodeGflop / EncodeS;
        public double DecodeGflopPerS => DecodeGflop / DecodeS;
    }

    public static Result Run(WfVaeModel model, string modelName, int frames, int height, int width, int runs, double peakGflops, TextWriter log)
    {
        var dev = model.Device;
        var rng = new Random(1234);
        var video = new HostTensor(1, 3, frames, height, width);
        for (int i = 0; i < video.Data.Length; i++) video.Data[i] = (float)(rng.NextDouble() * 2 - 1);

        // A warm-up run (pipelines built, memory first touched), then a profiled run. Not one run for both: a CPU
        // driver JIT-compiles (or loads from its disk cache) each shader at its first dispatch, inside the GPU
        // timestamps, which made the first layer using a shader variant look up to 6x slower than it runs.
        log.WriteLine($"bench: warm-up ({modelName}, {frames}x{height}x{width} on {dev.Info.Name})");
        model.Decode(model.Encode(video).Mean);
        log.WriteLine("bench: profiled run (GPU timestamps)");
        IReadOnlyList<DispatchTiming> encTimings, decTimings;
        HostTensor latents;
        using (var s = model.OpenEncoder(height, width, profile: true))
        {
            var chunk = s.Push(video.ToFrameMajor(0), frames);
            latents = HostTensor.FromFrameMajor(chunk.Mean, model.Config.LatentDim, chunk.Frames, WfVaeConfig.LatentSize(height), WfVaeConfig.LatentSize(width));
            encTimings = s.Timings.ToList();
        }
        using (var s = model.OpenDecoder(latents.H, latents.W, profile: true))
        {
            s.Push(latents.ToFrameMajor(0), latents.T, last: true);
            decTimings = s.Timings.ToList();
        }

        var enc = new double[runs];
        var dec = new double[runs];
        long encPeak = 0, decPeak = 0;
        for (int r = 0; r < runs; r++)
        {
            // Each direction's peak on its own: the peak is reset to what is live (the weights) before each.
            dev.Memory.ResetPeak();
            var sw = Stopwatch.StartNew();
            model.Encode(video);
            enc[r] = sw.Elapsed.TotalSeconds;
            encPeak = Math.Max(encPeak, dev.Memory.PeakBytes);
            dev.Memory.ResetPeak();
            sw.Restart();
            model.Decode(latents);
            dec[r] = sw.Elapsed.TotalSeconds;
            decPeak = Math.Max(decPeak, dev.Memory.PeakBytes);
            log.WriteLine($"bench: run {r + 1}/{runs}: encode {enc[r]:F3} s, decode {dec[r]:F3} s");
        }

        return new Result(dev.Info.Name, model.Precision.Name(), modelName, frames, height, width, runs,
            Median(enc), Median(dec), encTimings.Sum(t => t.Flops) / 1e9, decTimings.Sum(t => t.Flops) / 1e9,
            encPeak, decPeak, model.WeightBytes, peakGflops, enc, dec, Layers(encTimings, t => t.Label, peakGflops), Layers(decTimings, t => t.Label, peakGflops),
            Layers(encTimings, t => t.Kernel, peakGflops), Layers(decTimings, t => t.Kernel, peakGflops), dev.CooperativeMatrix.ToString());
    }

    /// <summary>GPU time and FLOPs summed per key: per layer (the dispatch label) or per kernel (the shader module).</summary>
    private static LayerTime[] Layers(IReadOnlyList<DispatchTiming> timings, Func<DispatchTiming, string> key, double peak) =>
        timings.GroupBy(key)
            .Select(g =>
            {
                double ms = g.Sum(t => t.Milliseconds), gflop = g.Sum(t => t.Flops) / 1e9;
                double rate = ms > 0 ? gflop / (ms / 1e3) : 0;
                return new LayerTime(g.Key, ms, gflop, rate, peak > 0 ? 100 * rate / peak : 0);
            })
            .OrderByDescending(l => l.Ms)
            .ToArray();

    private static double Median(double[] v)
    {
        var s = v.OrderBy(x => x).ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    public static string ToJson(Result r, string? peerJson = null) => Json(r, peerJson).ToJsonString(new JsonSerializerOptions { WriteIndented = true });

    /// <summary>Built from nodes, not by reflection over an anonymous type, so a trimmed or NativeAOT build writes it too.</summary>
    private static JsonObject Json(Result r, string? peerJson)
    {
        var o = new JsonObject
        {
            ["device"] = r.Device, ["precision"] = r.Precision, ["cooperative_matrix"] = r.CooperativeMatrix, ["model"] = r.Model,
            ["frames"] = r.Frames, ["height"] = r.Height, ["width"] = r.Width, ["runs"] = r.Runs,
            ["encode_s"] = r.EncodeS, ["decode_s"] = r.DecodeS,
            ["encode_runs_s"] = Array(r.EncodeRunsS), ["decode_runs_s"] = Array(r.DecodeRunsS),
            ["encode_frames_per_s"] = r.EncodeFramesPerS, ["decode_frames_per_s"] = r.DecodeFramesPerS,
            ["encode_gflop"] = r.EncodeGflop, ["decode_gflop"] = r.DecodeGflop,
            ["encode_gflop_per_s"] = r.EncodeGflopPerS, ["decode_gflop_per_s"] = r.DecodeGflopPerS,
            ["peak_device_bytes"] = r.PeakDeviceBytes, ["encode_peak_device_bytes"] = r.EncodePeakBytes,
            ["decode_peak_device_bytes"] = r.DecodePeakBytes, ["weight_bytes"] = r.WeightBytes,
            ["device_peak_gflop_per_s"] = r.PeakGflopPerS,
            ["encoder_layers"] = new JsonArray(r.EncoderLayers.Select(LayerJson).ToArray()),
            ["decoder_layers"] = new JsonArray(r.DecoderLayers.Select(LayerJson).ToArray()),
            ["encoder_kernels"] = new JsonArray(r.EncoderKernels.Select(LayerJson).ToArray()),
            ["decoder_kernels"] = new JsonArray(r.DecoderKernels.Select(LayerJson).ToArray()),
        };
        if (peerJson != null) o["peer"] = JsonNode.Parse(peerJson);
        return o;
    }

    private static JsonArray Array(double[] values) => new(values.Select(v => (JsonNode?)v).ToArray());

    private static JsonNode LayerJson(LayerTime l) => new JsonObject
    {
        ["name"] = l.Name, ["gpu_ms"] = l.Ms, ["gflop"] = l.Gflop, ["gflop_per_s"] = l.GflopPerS, ["percent_of_peak"] = l.PercentOfPeak,
    };

    public static string ToMarkdown(Result r, int topLayers = 12)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"| model | clip | encode s | decode s | encode frames/s | decode frames/s | encode GFLOP/s | decode GFLOP/s | peak device memory (encode / decode) |");
        sb.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|");
        sb.AppendLine($"| {r.Model} | {r.Frames}x{r.Height}x{r.Width} | {r.EncodeS:F3} | {r.DecodeS:F3} | {r.EncodeFramesPerS:F2} | {r.DecodeFramesPerS:F2} | {r.EncodeGflopPerS:F1} | {r.DecodeGflopPerS:F1} | {r.EncodePeakBytes / 1048576.0:F0} / {r.DecodePeakBytes / 1048576.0:F0} MiB |");
        sb.AppendLine();
        sb.AppendLine($"Device: {r.Device}, {r.Precision} ({r.CooperativeMatrix}); median of {r.Runs} run(s) after a warm-up and a profiled run; {r.EncodeGflop:F1} + {r.DecodeGflop:F1} GFLOP (counted as in docs/model.md#flops); weights {r.WeightBytes / 1048576.0:F0} MiB; measured FMA peak {r.PeakGflopPerS:F1} GFLOP/s.");
        foreach (var (title, column, layers) in new[]
        {
            ("Slowest encoder layers", "layer", r.EncoderLayers), ("Slowest decoder layers", "layer", r.DecoderLayers),
            ("Encoder time by kernel", "kernel", r.EncoderKernels), ("Decoder time by kernel", "kernel", r.DecoderKernels),
        })
        {
            sb.AppendLine();
            sb.AppendLine($"{title} (profiled run):");
            sb.AppendLine();
            sb.AppendLine($"| {column} | GPU ms | GFLOP | GFLOP/s | % of peak |");
            sb.AppendLine("|---|---:|---:|---:|---:|");
            foreach (var l in layers.Take(topLayers))
                sb.AppendLine($"| {l.Name} | {l.Ms:F1} | {l.Gflop:F2} | {l.GflopPerS:F1} | {l.PercentOfPeak:F1} |");
        }
        return sb.ToString();
    }

    /// <summary>A randomly initialised checkpoint of <paramref name="config"/>, written once into the user's cache and reused.</summary>
    public static string RandomCheckpointFolder(WfVaeConfig config, string name, TextWriter log)
    {
        var folder = Path.Combine(UserCache.Folder, "random-checkpoints", name + "-seed0");
        var weights = Path.Combine(folder, "diffusion_pytorch_model.safetensors");
        var configPath = Path.Combine(folder, "config.json");
        if (File.Exists(weights) && File.Exists(configPath) && File.ReadAllText(configPath) == config.ToJson())
            return folder;
        log.WriteLine($"bench: writing random weights for {name} to {folder} (once)");
        Directory.CreateDirectory(folder);
        RandomCheckpoint.Write(config, folder, SafetensorsDType.F32, seed: 0);
        return folder;
    }
}

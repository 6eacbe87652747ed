using WfVae.Cli.Benchmarks;
using WfVae.Model;
using WfVae.Model.Checkpoint;
using WfVae.Runtime;

namespace WfVae.Cli;

/// <summary>
/// wfvae bench ops: GFLOP/s of the convolutions at WF-VAE shapes against the measured FMA peak.
/// wfvae bench stream: per-chunk latency, throughput and peak memory versus stream length; with --sessions N,
/// N concurrent streams on one model checked against their single-session runs.
/// wfvae bench --preset wfvae-l-16chn | --model <path> --frames T --height H --width W: whole-model timing;
/// with --peer torch also the PyTorch twin on the same weights, clip and thread count (<see cref="PeerBenchmark"/>).
/// Tables go to stdout (and into a section of --markdown), progress to stderr.
/// </summary>
internal static class BenchCommand
{
    public static int Run(Options o, TextWriter stdout, TextWriter stderr)
    {
        var what = o.Benchmark;
        if (what is not (null or "ops" or "stream" or "soak"))
            throw new UsageException($"unknown benchmark '{what}' (ops, stream, soak, or model options such as --preset)");
        if (what != null && o.Has("--peer"))
            throw new UsageException($"--peer compares whole-model runs; 'bench {what}' has no peer");
        if (what is "ops" or "stream") StreamOptions.RefuseIgnored(o, $"on 'bench {what}' (it writes --markdown)", "--json");
        if (what == "stream" && o.Has("--sessions")) StreamOptions.RefuseIgnored(o, "on 'bench stream --sessions' (it prints its report)", "--markdown");
        // Started before the bench: a report that cannot be written fails now, not after minutes of measuring.
        using var json = StreamOptions.StartOutput(o, "--json");
        using var markdown = StreamOptions.StartOutput(o, "--markdown");
        var reports = new Reports(json, markdown);
        using var device = VulkanDevice.Create(o.DeviceOptions);
        return what switch
        {
            "ops" => Ops(device, o, reports, stdout, stderr),
            "stream" => Stream(device, o, reports, stdout, stderr),
            "soak" => Soak(device, o, reports, stdout, stderr),
            _ => Model(device, o, reports, stdout, stderr),
        };
    }

    /// <summary>The --json and --markdown outputs of a bench, started before it runs (their owner disposes them).</summary>
    private sealed record Reports(WfVae.IO.OutputFile? Json, WfVae.IO.OutputFile? Markdown)
    {
        public void WriteJson(string json)
        {
            if (Json != null) StreamOptions.CompleteJson(Json, json);
        }

        public void WriteSection(string title, string body)
        {
            if (Markdown != null) BenchCommand.WriteSection(Markdown, title, body);
        }
    }

    /// <summary>bench soak: --frames (default 10000) through encode and recon at --size (default 64x64), memory sampled every second.</summary>
    private static int Soak(VulkanDevice device, Options o, Reports reports, TextWriter stdout, TextWriter stderr)
    {
        var modelPath = o.Require("--model");
        int frames = Int(o, "--frames", 10000);
        var size = (o.Get("--size") ?? "64x64").ToLowerInvariant().Split('x');
        if (size.Length != 2 || !int.TryParse(size[0], out int w) || !int.TryParse(size[1], out int h) || w < 8 || h < 8 || w % 8 != 0 || h % 8 != 0)
            throw new UsageException($"--size must be WIDTHxHEIGHT in multiples of 8, got '{o.Get("--size")}'");
        using var model = WfVaeModel.Load(modelPath, device, precision: o.Precision);
        var results = new[] { "encode", "recon" }.Select(d => SoakBenchmark.Run(model, d, frames, w, h, stderr)).ToList();
        var table = SoakBenchmark.ToMarkdown(results, Path.GetFileName(Path.TrimEndingDirectorySeparator(modelPath)), w, h, device.Info.ToString());
        stdout.WriteLine(table);
        reports.WriteJson(System.Text.Json.JsonSerializer.Serialize(results.Select(r => new
            {
                r.Direction, r.Frames, r.Seconds, rss_slope_bytes_per_frame = r.RssSlope, device_slope_bytes_per_frame = r.DeviceSlope,
                managed_slope_bytes_per_frame = r.ManagedSlope, native_slope_bytes_per_frame = r.NativeSlope,
                allocated_bytes_per_frame = r.AllocatedPerFrame, collections = r.Collections,
                peak_rss_bytes = r.PeakRss, peak_managed_bytes = r.PeakManaged, peak_device_bytes = r.PeakDevice, samples = r.Samples,
            }), new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        reports.WriteSection("Soak", table);
        return 0;
    }

    private static int Stream(VulkanDevice device, Options o, Reports reports, TextWriter stdout, TextWriter stderr)
    {
        if (o.Has("--sessions")) return Sessions(device, o, stdout, stderr);
        var table = StreamBenchmark.Run(device, stderr, o.Has("--quick"));
        stdout.WriteLine(table);
        reports.WriteSection("Streaming", table);
        return 0;
    }

    /// <summary>
    /// bench stream --sessions N: N concurrent streams on one model (the shipped default unless --model); exit 1 when a
    /// stream differs from its single-session run.
    /// </summary>
    private static int Sessions(VulkanDevice device, Options o, TextWriter stdout, TextWriter stderr)
    {
        int sessions = Int(o, "--sessions", 2);
        bool quick = o.Has("--quick");
        int frames = Int(o, "--frames", quick ? 9 : 17), height = Int(o, "--height", quick ? 32 : 64), width = Int(o, "--width", quick ? 32 : 64);
        if (!WfVaeConfig.FitsSpatially(height) || !WfVaeConfig.FitsSpatially(width))
            throw new UsageException($"--height and --width must be multiples of {WfVaeConfig.SpatialCompression}, got {width}x{height}");
        string path = o.Get("--model") ?? DefaultModel.Locate();
        using var model = WfVaeModel.Load(path, device, precision: o.Precision);
        var result = SessionsBenchmark.Run(model, sessions, frames, height, width, stderr);
        stdout.Write(SessionsBenchmark.Report(result, Path.GetFileName(Path.TrimEndingDirectorySeparator(path))));
        return result.BitIdentical ? 0 : 1;
    }

    private static int Ops(VulkanDevice device, Options o, Reports reports, TextWriter stdout, TextWriter stderr)
    {
        var table = OperatorBenchmark.Run(device, stderr, o.Has("--quick"));
        stdout.WriteLine(table);
        reports.WriteSection("Convolution operators", table);
        return 0;
    }

    private static int Model(VulkanDevice device, Options o, Reports reports, TextWriter stdout, TextWriter stderr)
    {
        int frames = Int(o, "--frames", 9), height = Int(o, "--height", 64), width = Int(o, "--width", 64), runs = Int(o, "--runs", 3);
        if (runs < 1) throw new UsageException("--runs must be at least 1");
        string modelPath, name;
        if (o.Get("--preset") is { } preset)
        {
            if (preset != "wfvae-l-16chn") throw new UsageException($"unknown --preset '{preset}' (known: wfvae-l-16chn)");
            modelPath = ModelBenchmark.RandomCheckpointFolder(WfVaeConfig.WfVaeL16Chn, preset, stderr);
            name = "WF-VAE-L-16Chn (random weights)";
        }
        else
        {
            modelPath = o.Get("--model") ?? throw new UsageException("give --preset wfvae-l-16chn or --model <path>");
            name = Path.GetFileName(Path.TrimEndingDirectorySeparator(modelPath));
        }

        // The twin runs first: a twin that fails its golden check ends the run before the long engine part.
        var peer = Peer(o, device, modelPath, frames, height, width, runs, stderr);
        double peak = OperatorBenchmark.MeasurePeak(device, quick: false);
        using var model = WfVaeModel.Load(modelPath, device, o.Get("--config"), o.Precision);
        var result = ModelBenchmark.Run(model, name, frames, height, width, runs, peak, stderr);
        var table = ModelBenchmark.ToMarkdown(result);
        if (peer != null) table += Environment.NewLine + PeerBenchmark.ToMarkdown(result, peer);
        stdout.WriteLine(table);
        reports.WriteJson(ModelBenchmark.ToJson(result, peer?.Json));
        reports.WriteSection($"{name}, {frames}x{height}x{width}, {result.Device}", table);
        return 0;
    }

    /// <summary>--peer torch [--peer-device cpu|cuda] [--peer-precision fp32|tf32|bf16]; null without --peer.</summary>
    private static PeerBenchmark.Result? Peer(Options o, VulkanDevice device, string modelPath, int frames, int height, int width, int runs, TextWriter log)
    {
        if (o.Get("--peer") is not { } peer) return null;
        if (peer != "torch") throw new UsageException($"unknown --peer '{peer}' (known: torch)");
        var peerDevice = o.Get("--peer-device") ?? PeerBenchmark.DefaultDevice(device);
        if (peerDevice is not ("cpu" or "cuda")) throw new UsageException($"--peer-device must be cpu or cuda, not '{peerDevice}'");
        var precision = o.Get("--peer-precision") ?? PeerBenchmark.DefaultPrecision(peerDevice);
        if (precision is not ("fp32" or "tf32" or "bf16")) throw new UsageException($"--peer-precision must be fp32, tf32 or bf16, not '{precision}'");
        if (precision == "tf32" && peerDevice == "cpu") throw new UsageException("--peer-precision tf32 needs --peer-device cuda");
        var (weights, config) = CheckpointLocator.Resolve(modelPath, o.Get("--config"));
        var request = new PeerBenchmark.Request(weights, config, peerDevice, precision, PeerBenchmark.EngineThreads(device), runs, frames, height, width);
        return PeerBenchmark.Run(request, log);
    }

    private static int Int(Options o, string name, int fallback)
    {
        var v = o.Get(name);
        if (v == null) return fallback;
        return int.TryParse(v, out int n) && n > 0 ? n : throw new UsageException($"{name} needs a positive whole number, got '{v}'");
    }

    /// <summary>
    /// Replaces (or appends) the "## title" section of a Markdown file, keeping the rest as it is now (read when the
    /// bench ends, not when its output was started), and completes the output.
    /// </summary>
    private static void WriteSection(WfVae.IO.OutputFile output, string title, string body)
    {
        var heading = "## " + title;
        var text = !output.IsDirect && File.Exists(output.Target) ? File.ReadAllText(output.Target) : "# Performance\n";
        int start = text.IndexOf(heading + "\n", StringComparison.Ordinal);
        var section = $"{heading}\n\n{body.TrimEnd()}\n\n";
        if (start < 0) text = text.TrimEnd() + "\n\n" + section;
        else
        {
            int end = text.IndexOf("\n## ", start + heading.Length, StringComparison.Ordinal);
            text = text[..start] + section + (end < 0 ? "" : text[(end + 1)..]);
        }
        output.Complete(text.TrimEnd() + "\n");
    }
}

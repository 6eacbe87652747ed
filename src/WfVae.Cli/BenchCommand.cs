using WfVae.Cli.Benchmarks;
using WfVae.Model;
using WfVae.Model.Checkpoint;
using WfVae.Runtime;

namespace WfVae.Cli;

/// <summary>
/// wfvae bench ops: GFLOP/s of the convolutions at WF-VAE shapes against the measured FMA peak.
/// wfvae bench stream: per-chunk latency, throughput and peak memory versus stream length; with --sessions N,
/// N concurrent streams on one model checked against their single-session runs.
/// wfvae bench --preset wfvae-l-16chn | --model <path> --frames T --height H --width W: whole-model timing.
/// Tables go to stdout (and into a section of --markdown), progress to stderr.
/// </summary>
internal static class BenchCommand
{
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        string? what = args.Length > 0 && !args[0].StartsWith("--") ? args[0] : null;
        var o = Options.Parse(what != null ? args.Skip(1) : args, "bench", stderr);
        if (what is not (null or "ops" or "stream"))
            throw new UsageException($"unknown benchmark '{what}' (ops, stream, or model options such as --preset)");
        using var device = VulkanDevice.Create(o.DeviceOptions);
        return what switch
        {
            "ops" => Ops(device, o, stdout, stderr),
            "stream" => Stream(device, o, stdout, stderr),
            _ => Model(device, o, stdout, stderr),
        };
    }

    private static int Stream(VulkanDevice device, Options o, TextWriter stdout, TextWriter stderr)
    {
        if (o.Has("--sessions")) return Sessions(device, o, stdout, stderr);
        var table = StreamBenchmark.Run(device, stderr, o.Has("--quick"));
        stdout.WriteLine(table);
        if (o.Get("--markdown") is { } path) WriteSection(path, "Streaming", table);
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

    private static int Ops(VulkanDevice device, Options o, TextWriter stdout, TextWriter stderr)
    {
        var table = OperatorBenchmark.Run(device, stderr, o.Has("--quick"));
        stdout.WriteLine(table);
        if (o.Get("--markdown") is { } path) WriteSection(path, "Convolution operators", table);
        return 0;
    }

    private static int Model(VulkanDevice device, Options o, TextWriter stdout, TextWriter stderr)
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

        double peak = OperatorBenchmark.MeasurePeak(device, quick: false);
        using var model = WfVaeModel.Load(modelPath, device, precision: o.Precision);
        var result = ModelBenchmark.Run(model, name, frames, height, width, runs, peak, stderr);
        var table = ModelBenchmark.ToMarkdown(result);
        stdout.WriteLine(table);
        if (o.Get("--json") is { } json) WriteAtomically(json, ModelBenchmark.ToJson(result));
        if (o.Get("--markdown") is { } md) WriteSection(md, $"{name}, {frames}x{height}x{width}, {result.Device}", table);
        return 0;
    }

    private static int Int(Options o, string name, int fallback)
    {
        var v = o.Get(name);
        if (v == null) return fallback;
        return int.TryParse(v, out int n) && n > 0 ? n : throw new UsageException($"{name} needs a positive whole number, got '{v}'");
    }

    /// <summary>Replaces (or appends) the "## title" section of a Markdown file, keeping the rest.</summary>
    internal static void WriteSection(string path, string title, string body)
    {
        var heading = "## " + title;
        var text = File.Exists(path) ? File.ReadAllText(path) : "# Performance\n";
        int start = text.IndexOf(heading + "\n", StringComparison.Ordinal);
        var section = $"{heading}\n\n{body.TrimEnd()}\n\n";
        if (start < 0) text = text.TrimEnd() + "\n\n" + section;
        else
        {
            int end = text.IndexOf("\n## ", start + heading.Length, StringComparison.Ordinal);
            text = text[..start] + section + (end < 0 ? "" : text[(end + 1)..]);
        }
        WriteAtomically(path, text.TrimEnd() + "\n");
    }

    private static void WriteAtomically(string path, string text)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var tmp = full + ".tmp";
        File.WriteAllText(tmp, text);
        File.Move(tmp, full, overwrite: true);
    }
}

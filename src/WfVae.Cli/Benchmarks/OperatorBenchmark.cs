using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using WfVae.Operators;
using WfVae.Runtime;

namespace WfVae.Cli.Benchmarks;

/// <summary>
/// Times the convolutions of WF-VAE-L-16Chn (B = 192) at their real channel counts against the device's measured
/// fp32 FMA peak (shaders/peak.comp): the direct kernel of each layer, and Winograd F(4x4,3x3) and F(2x2,3x3) beside
/// it on the layers Winograd can run. GPUs run the real frame sizes; CPU drivers (lavapipe) run smaller frames so
/// the whole table takes seconds; <c>quick</c> uses tiny frames (smoke tests). Times are GPU timestamps (wall clock
/// around the submission when the device has none), median of several runs after one warm-up run.
/// </summary>
public static class OperatorBenchmark
{
    /// <summary>One benchmarked convolution: input [Cin, past + T, H, W] → output.</summary>
    public sealed record Layer(string Name, int Cin, int Cout, int Kt, int K, int St, int Shw, ConvPadding Padding,
        int PastT, (int T, int H) Gpu, (int T, int H) Cpu)
    {
        /// <summary>Direct-conv FLOPs (docs/model.md#flops) for <paramref name="frames"/> output frames of <paramref name="size"/>².</summary>
        public long Flops(int frames, int size) => 2L * Cout * Cin * Kt * K * K * frames * size * size;
    }

    /// <summary>The layers of the table: convolutions of the L config (docs/model.md#encoder, #decoder).</summary>
    public static IReadOnlyList<Layer> Layers { get; } = new Layer[]
    {
        new("encoder.down1.0 (energy-flow input conv, 24 channels in)", 24, 192, 1, 3, 1, 1, ConvPadding.Same, 0, (4, 128), (5, 32)),
        new("encoder.down1.1.conv1 (ResnetBlock2D conv)", 192, 192, 1, 3, 1, 1, ConvPadding.Same, 0, (4, 128), (1, 32)),
        new("encoder.down1.3.conv (Downsample 3x3 s2)", 192, 192, 1, 3, 1, 2, ConvPadding.RightBottom, 0, (4, 128), (1, 32)),
        new("encoder.down2.1.conv1 (3D 3x3x3)", 384, 384, 3, 3, 1, 1, ConvPadding.Same, 2, (4, 64), (1, 16)),
        new("encoder.down2.3.conv (S2T2 3x3x3 s2)", 384, 384, 3, 3, 2, 2, ConvPadding.RightBottom, 2, (8, 64), (2, 16)),
        new("encoder.mid.0.conv2 (3D 3x3x3)", 768, 768, 3, 3, 1, 1, ConvPadding.Same, 2, (4, 32), (1, 8)),
        new("decoder.up1.0.conv2 (3D 3x3x3)", 384, 384, 3, 3, 1, 1, ConvPadding.Same, 2, (4, 64), (1, 16)),
        new("decoder.up1.0.nin_shortcut (1x1x1)", 768, 384, 1, 1, 1, 1, ConvPadding.Same, 0, (4, 64), (1, 32)),
        new("decoder.layer.0.conv1 (3D 3x3x3)", 384, 192, 3, 3, 1, 1, ConvPadding.Same, 2, (2, 128), (1, 16)),
    };

    /// <summary>Runs the benchmark and returns a Markdown report (device, measured peak, one row per layer).</summary>
    public static string Run(VulkanDevice device, TextWriter log, bool quick)
    {
        ArgumentNullException.ThrowIfNull(device);
        log ??= TextWriter.Null;
        bool cpu = device.Info.Kind == DeviceKind.Cpu;
        int reps = quick ? 3 : cpu ? 7 : 10;
        var inv = CultureInfo.InvariantCulture;

        log.WriteLine($"bench ops: {device.Info.Name}, measuring fp32 FMA peak ...");
        double peak = MeasurePeak(device, quick, reps);
        log.WriteLine(string.Format(inv, "  peak {0:F1} GFLOP/s", peak));

        var sb = new StringBuilder();
        sb.AppendLine("Convolutions of WF-VAE-L-16Chn at its channel counts.");
        sb.AppendLine();
        sb.AppendLine($"- device: {device.Info.Name} ({device.Info.Kind}, {device.Info.Driver})");
        sb.AppendLine(string.Format(inv, "- measured fp32 FMA peak: {0:F1} GFLOP/s (shaders/peak.comp)", peak));
        sb.AppendLine($"- per layer: the direct kernel and workgroup tile (channels x positions) the device picks without Winograd ({DeviceOptions.VariantVariable} and {DeviceOptions.TilesVariable} force them), then on stride-1 3x3 layers Winograd F(4x4,3x3) and F(2x2,3x3); the model runs the row marked *; GFLOP/s of Winograd rows are effective (direct-conv FLOPs / time); × direct = direct time / row time");
        sb.AppendLine($"- {(quick ? "quick sizes" : cpu ? "reduced frame sizes for a CPU driver" : "real frame sizes")}, fp32, median of {reps} rounds after a warm-up round (each round runs a layer's kernels in turn), {(device.Info.TimestampsSupported ? "GPU timestamps" : "wall clock")}");
        sb.AppendLine();
        sb.AppendLine("| layer | shape | kernel | GFLOP | ms | GFLOP/s | % of peak | × direct |");
        sb.AppendLine("|---|---|---|---:|---:|---:|---:|---:|");

        var rng = new Random(1);
        foreach (var l in Layers) LayerRows(device, log, sb, l, rng, quick ? (1, 4) : cpu ? l.Cpu : l.Gpu, reps, peak);
        return sb.ToString();
    }

    /// <summary>Appends a layer's rows: its direct kernel, then Winograd F4 and F2 where Winograd can run it.</summary>
    private static void LayerRows(VulkanDevice device, TextWriter log, StringBuilder sb, Layer l, Random rng, (int T, int Hw) size, int reps, double peak)
    {
        var inv = CultureInfo.InvariantCulture;
        var (t, hw) = size;
        var weight = RandomArray(rng, l.Cout * l.Cin * l.Kt * l.K * l.K, 0.05f);
        var bias = RandomArray(rng, l.Cout, 0.1f);
        using var x = device.Upload(RandomArray(rng, l.Cin * t * hw * hw, 1f), l.Cin, t, hw, hw);
        using var past = l.PastT > 0 ? device.Upload(RandomArray(rng, l.Cin * l.PastT * hw * hw, 1f), l.Cin, l.PastT, hw, hw) : null;
        int to = Conv.OutputFrames(l.PastT + t, l.Kt, l.St);
        int ho = Conv.OutputSize(hw, l.K, l.Shw, l.Padding);
        using var y = device.CreateTensor(l.Cout, to, ho, ho);
        string shape = $"{l.Cin}→{l.Cout} {l.Kt}x{l.K}x{l.K}" + (l.St > 1 || l.Shw > 1 ? $" s{l.St}x{l.Shw}x{l.Shw}" : "") +
                       $", in {(l.PastT > 0 ? l.PastT + "+" : "")}{t}x{hw}x{hw} → out {to}x{ho}x{ho}";
        bool winograd = WinogradConv.Applies(l.K, l.K, l.St, l.Shw, l.Padding);
        // The tile the model would load this layer with on this device (forced modes included).
        var modelTile = winograd ? WinogradConv.TileFor(device, Precision.Fp32, l.Kt, l.K, l.K, l.St, l.Shw, l.Padding, l.Name) : null;
        // The layer's kernels: its direct one, then Winograd F4 and F2 where Winograd can run it.
        var rows = new List<(ConvWeights W, string Kernel, bool Model)>();
        try
        {
            var dw = ConvWeights.Upload(device, weight, bias, l.Cout, l.Cin, l.Kt, l.K, l.K);
            var variant = Conv.VariantFor(device, Precision.Fp32, dw, past, x, l.St, l.Shw, l.Padding, ho);
            var tiles = Conv.TilesFor(device, variant, l.Cout, (long)to * ho * ho);
            rows.Add((dw, $"{KernelOptions.Name(variant)} {tiles.BM}x{tiles.BN}", modelTile == null));
            string loads = WinogradConv.LoadsName(device, WinogradConv.UsesTexels(device, Precision.Fp32));
            foreach (var tile in winograd ? new[] { WinogradTile.F4, WinogradTile.F2 } : [])
                rows.Add((ConvWeights.UploadWinograd(device, weight, bias, l.Cout, l.Cin, l.Kt, tile), $"winograd {WinogradConv.Name(tile)} {loads}", modelTile == tile));
            var ms = TimeInterleaved(device, reps, rows.Select(r => (Action<CommandRecorder>)(rec =>
                Conv.Forward(rec, past, x, r.W, y, l.St, l.Shw, l.Padding, label: "conv"))).ToArray());
            double gflop = l.Flops(to, ho) / 1e9;
            for (int i = 0; i < rows.Count; i++)
            {
                double rate = gflop / (ms[i] / 1e3);
                sb.AppendLine(string.Format(inv, "| {0} | {1} | {2}{3} | {4:F3} | {5:F2} | {6:F1} | {7:F1} | {8:F2} |", l.Name, shape, rows[i].Kernel,
                    rows[i].Model ? " *" : "", gflop, ms[i], rate, 100 * rate / peak, ms[0] / ms[i]));
                log.WriteLine(string.Format(inv, "  {0}, {1}: {2:F2} ms, {3:F1} GFLOP/s", l.Name, rows[i].Kernel, ms[i], rate));
            }
        }
        finally
        {
            foreach (var r in rows) r.W.Dispose();
        }
    }

    private static float[] RandomArray(Random rng, int n, float scale)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return a;
    }

    /// <summary>
    /// Median milliseconds of one recorded batch of each of <paramref name="records"/> over <paramref name="reps"/>
    /// rounds after one warm-up round; each round runs every batch once, so a slow phase of a shared machine falls on
    /// all of a layer's kernels alike instead of on whichever was being timed.
    /// </summary>
    private static double[] TimeInterleaved(VulkanDevice device, int reps, Action<CommandRecorder>[] records)
    {
        var times = records.Select(_ => new List<double>()).ToArray();
        using var rec = device.BeginCommands(timestamps: true);
        for (int r = 0; r <= reps; r++)
            for (int i = 0; i < records.Length; i++)
            {
                double ms = TimeOnce(device, rec, records[i]);
                if (r > 0) times[i].Add(ms);
            }
        return times.Select(t => t.Order().ElementAt(t.Count / 2)).ToArray();
    }

    private static double TimeOnce(VulkanDevice device, CommandRecorder rec, Action<CommandRecorder> record)
    {
        rec.ClearTimings();
        record(rec);
        var sw = Stopwatch.StartNew();
        rec.Submit();
        sw.Stop();
        return device.Info.TimestampsSupported ? rec.Timings.Sum(x => x.Milliseconds) : sw.Elapsed.TotalMilliseconds;
    }

    /// <summary>fp32 FMA GFLOP/s of shaders/peak.comp, sized to run ~50 ms (quick: ~10 ms) per measurement.</summary>
    public static double MeasurePeak(VulkanDevice device, bool quick, int reps = 3)
    {
        bool cpu = device.Info.Kind == DeviceKind.Cpu;
        uint count = cpu ? 64u * 64 : 1u << 20;
        using var outBuf = device.CreateTensor(1, 1, 1, (int)count);
        double Measure(uint iters) => TimeInterleaved(device, reps, [rec => PeakProbe.Record(rec, outBuf, iters)])[0];
        uint it = 16;
        double ms = Measure(it);
        double target = quick ? 10 : 50;
        while (ms < target / 4 && it < (1u << 24))
        {
            it = (uint)Math.Min(1u << 24, it * Math.Clamp(target / Math.Max(ms, 1e-3), 2, 64));
            ms = Measure(it);
        }
        double flops = PeakProbe.Flops(count, it);
        return flops / (ms / 1e3) / 1e9;
    }
}

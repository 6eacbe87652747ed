using System.Globalization;
using System.Runtime.InteropServices;
using WfVae.Model.Checkpoint;

namespace WfVae.Demo;

/// <summary>What the report describes about the model.</summary>
public sealed record ModelSummary(string Path, WfVaeConfig Config, long EncoderParameters, long DecoderParameters, string WeightsHash, bool Untrained);

/// <summary>Everything one demo run produced.</summary>
public sealed record DemoOutcome(
    DemoOptions Options,
    RgbClip Clip,
    ModelSummary Model,
    IReadOnlyList<DeviceResult> Results,
    IReadOnlyList<Agreement> Agreements,
    IReadOnlyList<int> SheetColumns)
{
    public bool AllRan => Results.Count > 0 && Results.All(r => r.Ok);
    public bool LatentsAgree => Agreements.Count > 0 && Agreements.All(a => a.Agrees);
}

/// <summary>Builds report.md and report.html from a demo run.</summary>
public static class Report
{
    public const string MarkdownFile = "report.md";
    public const string HtmlFile = "report.html";
    public const string SheetFile = "contact-sheet.png";

    /// <summary>Shown next to every PSNR figure when the model folder carries the untrained marker.</summary>
    public const string UntrainedNote =
        "these weights are random (untrained), so the reconstruction quality is meaningless; run with --model <published WF-VAE-L-16Chn folder> for a real figure";

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static ReportDocument Build(DemoOutcome o)
    {
        var doc = new ReportDocument("WF-VAE streaming demo");
        var ran = o.Results.Where(r => r.Ok).ToList();
        AddIntro(doc, o, ran);
        AddResults(doc, o, ran);
        AddContactSheet(doc, o, ran);
        foreach (var r in o.Results.Where(r => !r.Ok))
        {
            doc.AddHeading(1, $"Failure on {r.Label}");
            doc.AddParagraph($"`{r.Error}`");
        }
        AddLatency(doc, ran);
        AddDevices(doc, o);
        AddMethod(doc, o);
        return doc;
    }

    /// <summary>What ran, on which input and model, and how the clip is pushed.</summary>
    private static void AddIntro(ReportDocument doc, DemoOutcome o, List<DeviceResult> ran)
    {
        var clip = o.Clip;
        string pushes = PushPattern(clip.Frames.Count, o.Options.Chunk);
        doc.AddParagraph($"{Stamp()} — {o.Results.Count} Vulkan device(s), {ran.Count} ran. " +
            "Each device loads the model and streams the clip: the encoder gets the first frame alone and then " +
            $"{o.Options.Chunk} frames per push ({pushes}); each push's latents go straight into the decoder, " +
            "which is flushed at the end.");
        doc.AddBullets([
            $"**Input:** {clip.Description}",
            $"**Model:** `{o.Model.Path}` — {ModelText(o.Model)}",
        ]);
        if (o.Model.Untrained)
            doc.AddNote($"**Untrained weights:** {UntrainedNote}.");
        if (o.Model.Config.NormType == NormType.GroupNorm)
            doc.AddNote("This model uses GroupNorm, which pools statistics over the frames of one push: streamed output " +
                "differs slightly from whole-clip inference (LayerNorm models, such as WF-VAE-L-16Chn, stream exactly).");
    }

    /// <summary>The per-device summary table and the verdict on the latents.</summary>
    private static void AddResults(ReportDocument doc, DemoOutcome o, List<DeviceResult> ran)
    {
        doc.AddHeading(1, "Results");
        doc.AddTable(
            ["device", "status", "encode frames/s", "decode frames/s", "end-to-end frames/s", "peak device memory", "PSNR", "SSIM", "latent rel_err"],
            o.Results.Select(r => SummaryRow(o, r)));
        doc.AddParagraph(AgreementLine(o));
        doc.AddParagraph($"rel_err = max|a − b| / rms(b) over all latent means, against the first device that ran. " +
            "Devices add up convolutions in different orders and have their own exp and rsqrt, so bit-identical latents " +
            $"are not expected; the bound {LatentAgreement.Tolerance:0e0} is the one the model must meet against the official PyTorch " +
            "float32 outputs (this engine reaches about 1e-5), while real faults (a missed barrier, a wrong index, a driver " +
            "losing precision) move latents by 1e-3 or more.");
        if (ran.Count > 1)
            doc.AddTable(["device", "latent rel_err", "decoded video rel_err", "agrees"],
                o.Agreements.Select(a => (IReadOnlyList<string>)[a.Device.Label, Sci(a.LatentRelErr), Sci(a.DecodedRelErr), a.Agrees ? "yes" : "**no**"]));
    }

    /// <summary>The contact sheet and what its rows and columns are.</summary>
    private static void AddContactSheet(ReportDocument doc, DemoOutcome o, List<DeviceResult> ran)
    {
        doc.AddHeading(1, "Contact sheet");
        if (ran.Count > 0)
        {
            doc.AddImage(SheetFile, "input and reconstruction per device");
            var rows = new List<string> { "input" };
            rows.AddRange(ran.Select(r => $"reconstruction on {r.Label}"));
            doc.AddParagraph($"Rows, top to bottom: {string.Join("; ", rows)}. Columns: frames {string.Join(", ", o.SheetColumns)}" +
                (o.Model.Untrained ? " (untrained weights: the reconstruction is not expected to resemble the input)." : "."));
        }
        else
        {
            doc.AddParagraph("No device ran, so there is no reconstruction to show.");
        }
    }

    /// <summary>Wall-clock time of every push, per device.</summary>
    private static void AddLatency(ReportDocument doc, List<DeviceResult> ran)
    {
        doc.AddHeading(1, "Per-chunk latency");
        doc.AddParagraph("Wall-clock time of each push, host↔device copies included. The first push of each session also " +
            "builds compute pipelines (from the pipeline cache when it is warm), so it is slower than the rest.");
        foreach (var r in ran)
        {
            doc.AddHeading(2, r.Label);
            doc.AddTable(["push", "frames in", "latents out", "encode ms", "frames out", "decode ms"],
                r.Chunks.Select(c => (IReadOnlyList<string>)[
                    c.IsFlush ? "flush" : c.Index.ToString(Inv),
                    c.FramesIn.ToString(Inv), c.LatentsOut.ToString(Inv),
                    c.IsFlush ? "—" : c.EncodeMs.ToString("F1", Inv),
                    c.FramesOut.ToString(Inv),
                    c.DecodeMs.ToString("F1", Inv)]));
        }
    }

    /// <summary>The devices, their drivers, load times and weight memory.</summary>
    private static void AddDevices(ReportDocument doc, DemoOutcome o)
    {
        doc.AddHeading(1, "Devices");
        doc.AddTable(["device", "type", "vendor", "driver", "Vulkan", "model load ms", "weights on device"],
            o.Results.Select(r => (IReadOnlyList<string>)[
                r.Label, r.Info.Kind.ToString(), r.Info.Vendor, r.Info.Driver, r.Info.ApiVersion,
                r.Ok ? r.LoadMs.ToString("F0", Inv) : "—", r.Ok ? Bytes(r.WeightBytes) : "—"]));
    }

    /// <summary>How each figure is measured, and the command and host that produced them.</summary>
    private static void AddMethod(ReportDocument doc, DemoOutcome o)
    {
        var clip = o.Clip;
        doc.AddHeading(1, "How the figures are measured");
        doc.AddBullets([
            "**frames/s:** input frames divided by the summed wall-clock time of the encoder pushes (encode), decoded frames by " +
                "that of the decoder pushes and the flush (decode), and input frames by both together (end-to-end). Model loading is not included.",
            "**peak device memory:** the high-water mark of the engine's device allocations while streaming, weights included.",
            $"**PSNR / SSIM:** reconstruction against the input as 8-bit RGB, over all {clip.Frames.Count} frames; decoded values are " +
                "clamped to [-1, 1] and mapped to 255·(x+1)/2.",
            $"**Command:** `wfvae-demo {string.Join(' ', o.Options.ToArguments())}`",
            $"**Host:** {RuntimeInformation.OSDescription}, {RuntimeInformation.ProcessArchitecture}, .NET {Environment.Version}, {Environment.ProcessorCount} logical CPUs",
        ]);
    }

    /// <summary>The one-line verdict on the latents (also what the exit code reflects).</summary>
    public static string AgreementLine(DemoOutcome o)
    {
        int ran = o.Results.Count(r => r.Ok);
        if (ran == 0) return "**Latents agree across devices:** no device ran, nothing to compare.";
        if (ran == 1)
            return $"**Latents agree across devices:** yes — only one device ran ({o.Agreements[0].Device.Label}), so there was nothing to compare it with; " +
                "run on a machine with more Vulkan devices (e.g. a GPU and lavapipe) for a cross-vendor check.";
        double worst = o.Agreements.Max(a => double.IsNaN(a.LatentRelErr) ? double.PositiveInfinity : a.LatentRelErr);
        return o.LatentsAgree
            ? $"**Latents agree across devices:** yes — all {ran} devices are within rel_err {LatentAgreement.Tolerance:0e0} of {o.Agreements[0].Device.Label} (worst {Sci(worst)})."
            : $"**Latents agree across devices:** **no** — worst rel_err {Sci(worst)} against {o.Agreements[0].Device.Label} exceeds {LatentAgreement.Tolerance:0e0}.";
    }

    private static IReadOnlyList<string> SummaryRow(DemoOutcome o, DeviceResult r)
    {
        if (!r.Ok) return [r.Label, "**failed** (see below)", "—", "—", "—", "—", "—", "—", "—"];
        var agreement = o.Agreements.First(a => a.Device == r);
        string psnr = $"{r.Psnr:F2} dB";
        if (o.Model.Untrained) psnr += " (untrained weights: meaningless)";
        return [
            r.Label, "ok",
            r.EncodeFps.ToString("F1", Inv), r.DecodeFps.ToString("F1", Inv), r.EndToEndFps.ToString("F1", Inv),
            Bytes(r.PeakBytes), psnr, r.Ssim.ToString("F3", Inv),
            agreement.Device == o.Agreements[0].Device ? "reference" : Sci(agreement.LatentRelErr),
        ];
    }

    private static string ModelText(ModelSummary m)
    {
        var c = m.Config;
        return $"latent channels {c.LatentDim}, base width {c.BaseChannels}, {c.NormType}; " +
            $"{m.EncoderParameters.ToString("N0", Inv)} encoder + {m.DecoderParameters.ToString("N0", Inv)} decoder parameters; " +
            $"weights SHA-256 {m.WeightsHash[..Math.Min(16, m.WeightsHash.Length)]}…" + (m.Untrained ? " (**untrained**)" : "");
    }

    /// <summary>"1 + 4 + 4 + 4 + 4" for 17 frames in chunks of 4.</summary>
    private static string PushPattern(int frames, int chunk)
    {
        var parts = new List<int> { 1 };
        for (int pos = 1; pos < frames; pos += chunk) parts.Add(Math.Min(chunk, frames - pos));
        return string.Join(" + ", parts) + " frames";
    }

    private static string Stamp() => DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", Inv);

    private static string Sci(double x) => double.IsNaN(x) ? "NaN" : double.IsInfinity(x) ? "shape differs" : x.ToString("0.0e0", Inv);

    public static string Bytes(long bytes) => bytes >= 1L << 30
        ? (bytes / (double)(1L << 30)).ToString("F2", Inv) + " GiB"
        : (bytes / (double)(1L << 20)).ToString("F1", Inv) + " MiB";
}

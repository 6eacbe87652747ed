using WfVae.Media;
using WfVae.Model;
using WfVae.Model.Checkpoint;
using WfVae.Runtime;

namespace WfVae.Demo;

/// <summary>
/// The cross-vendor streaming demo: streams a clip through encode and decode on every selected Vulkan
/// device and writes report.md, report.html and contact-sheet.png.
/// </summary>
public static class Demo
{
    /// <summary>Runs the demo; progress and errors go to <paramref name="log"/>.</summary>
    public static int Run(string[] args, TextWriter log) => Run(args, log, log);

    /// <summary>
    /// Runs the demo. Returns 0 when every device ran and all latents agree, 1 otherwise (with one line
    /// on <paramref name="errors"/>), 2 for a usage error.
    /// </summary>
    public static int Run(string[] args, TextWriter log, TextWriter errors)
    {
        DemoOptions options;
        try
        {
            options = DemoOptions.Parse(args);
        }
        catch (DemoUsageException e)
        {
            errors.WriteLine($"wfvae-demo: {e.Message}");
            return 2;
        }
        if (options.Help)
        {
            log.WriteLine(DemoOptions.Usage);
            return 0;
        }
        try
        {
            return Execute(options, log, errors);
        }
        catch (Exception e) when (e is NoVulkanDeviceException or VulkanException or InvalidModelDataException or InvalidDataException
            or MediaException or IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            errors.WriteLine($"wfvae-demo: {e.Message}");
            return 1;
        }
        catch (Exception e)
        {
            errors.WriteLine($"wfvae-demo: internal error: {e.GetType().Name}: {e.Message}" +
                (Environment.GetEnvironmentVariable("WFVAE_DEBUG") == "1" ? "\n" + e : " (WFVAE_DEBUG=1 shows details)"));
            return 1;
        }
    }

    private static int Execute(DemoOptions options, TextWriter log, TextWriter errors)
    {
        string modelPath = options.Model ?? DefaultModel.Locate();
        if (options.Model != null && !Directory.Exists(modelPath) && !File.Exists(modelPath))
            throw new FileNotFoundException($"--model: '{modelPath}' does not exist");
        var model = Summarize(modelPath);
        log.WriteLine($"model: {model.Path}{(model.Untrained ? " (untrained weights)" : "")}");

        var clip = LoadClip(options, log);
        log.WriteLine($"input: {clip.Description}");

        var devices = SelectDevices(VulkanDevice.Enumerate(), options.Devices);
        // Before the devices run: a report folder that cannot be made or written fails now, not after the whole run.
        string folder = Path.GetFullPath(options.Output);
        Directory.CreateDirectory(folder);
        using var files = new ReportFiles(folder);
        var results = new List<DeviceResult>();
        foreach (var info in devices)
        {
            log.WriteLine($"device {info}");
            results.Add(DeviceRun.Run(info, modelPath, clip, options.Chunk, log));
        }

        var outcome = new DemoOutcome(options, clip, model, results, LatentAgreement.Compare(results), ContactSheet.Columns(clip.Frames.Count));
        WriteReport(outcome, files);
        string reportPath = Path.Combine(folder, Report.MarkdownFile);
        log.WriteLine(Report.AgreementLine(outcome).Replace("**", ""));
        log.WriteLine($"report: {reportPath} (also {Report.HtmlFile}, {Report.SheetFile})");

        var failed = results.Where(r => !r.Ok).ToList();
        if (failed.Count > 0)
        {
            errors.WriteLine($"wfvae-demo: {failed.Count} of {results.Count} device(s) failed; first: {failed[0].Label}: {failed[0].Error} (report: {reportPath})");
            return 1;
        }
        if (!outcome.LatentsAgree)
        {
            errors.WriteLine($"wfvae-demo: latents differ across devices beyond rel_err {LatentAgreement.Tolerance:0e0} (report: {reportPath})");
            return 1;
        }
        return 0;
    }

    private static ModelSummary Summarize(string modelPath)
    {
        using var checkpoint = WfVaeCheckpoint.Load(modelPath);
        var c = checkpoint.Config;
        return new ModelSummary(Path.GetFullPath(modelPath), c,
            WeightManifest.TorchParameterCount(c, ModelPart.Encoder), WeightManifest.TorchParameterCount(c, ModelPart.Decoder),
            checkpoint.WeightsHash, DefaultModel.IsUntrained(modelPath));
    }

    private static RgbClip LoadClip(DemoOptions o, TextWriter log)
    {
        if (o.Synthetic) return SyntheticClip.Generate(o.Frames, o.Width, o.Height);
        var clip = VideoInput.Read(o.Input ?? DemoClip.Locate(), o.Frames, o.Width, o.Height);
        if (o.Input == null) clip = clip with { Description = $"{clip.Description}; the shipped clip: {DemoClip.Credit}" };
        if (clip.Frames.Count < o.Frames)
            log.WriteLine($"note: the input is shorter than --frames {o.Frames}; streaming its first {clip.Frames.Count} frames (1 + 4k)");
        return clip;
    }

    /// <summary>'all', or a comma-separated list of indices / name substrings (each picks its first match).</summary>
    public static IReadOnlyList<PhysicalDeviceInfo> SelectDevices(IReadOnlyList<PhysicalDeviceInfo> devices, string selector)
    {
        if (devices.Count == 0) return [VulkanDevice.Select(devices, null)]; // throws the "no Vulkan device" explanation
        if (string.Equals(selector.Trim(), "all", StringComparison.OrdinalIgnoreCase)) return devices;
        var chosen = new List<PhysicalDeviceInfo>();
        foreach (var part in selector.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var d = VulkanDevice.Select(devices, part);
            if (!chosen.Contains(d)) chosen.Add(d);
        }
        if (chosen.Count == 0) throw new ArgumentException($"--devices '{selector}' selects no device");
        return chosen;
    }

    private static void WriteReport(DemoOutcome o, ReportFiles files)
    {
        var ran = o.Results.Where(r => r.Ok).ToList();
        if (ran.Count > 0)
        {
            var rows = new List<IReadOnlyList<byte[]>> { o.Clip.Frames };
            rows.AddRange(ran.Select(r => r.Reconstruction));
            var sheet = ContactSheet.Compose(rows, o.SheetColumns, o.Clip.Width, o.Clip.Height);
            var (w, h) = ContactSheet.Size(rows.Count, o.SheetColumns.Count, o.Clip.Width, o.Clip.Height);
            PngWriter.Write(files.Sheet.Stream, sheet, w, h);
            files.Sheet.Commit();
        }
        else if (File.Exists(files.Sheet.Target))
        {
            File.Delete(files.Sheet.Target); // a previous run's sheet would contradict this report
        }
        var doc = Report.Build(o);
        files.Markdown.Complete(doc.ToMarkdown());
        files.Html.Complete(doc.ToHtml());
    }

    /// <summary>The report's three files, started (temporaries created) before the run and completed after it.</summary>
    private sealed class ReportFiles : IDisposable
    {
        private readonly List<WfVae.IO.OutputFile> _all = [];

        public ReportFiles(string folder)
        {
            try
            {
                Markdown = Start(Path.Combine(folder, Report.MarkdownFile));
                Html = Start(Path.Combine(folder, Report.HtmlFile));
                Sheet = Start(Path.Combine(folder, Report.SheetFile));
            }
            catch
            {
                Dispose(); // the files started before the one that failed leave no temporary
                throw;
            }
        }

        public WfVae.IO.OutputFile Markdown { get; }
        public WfVae.IO.OutputFile Html { get; }
        public WfVae.IO.OutputFile Sheet { get; }

        private WfVae.IO.OutputFile Start(string path)
        {
            var file = WfVae.IO.OutputFile.Create(path);
            _all.Add(file);
            return file;
        }

        public void Dispose()
        {
            foreach (var f in _all) f.Dispose();
        }
    }
}

using System.Buffers.Binary;
using System.Globalization;
using System.Text.RegularExpressions;
using Xunit;
using DemoApp = WfVae.Demo.Demo;
using WfVae.Demo;

namespace WfVae.Tests.Demo;

/// <summary>
/// The cross-vendor demo run in-process on the suite's device (lavapipe in CI) with the default clip and
/// the shipped untrained checkpoint: it must stream, write the three report files and say what it found.
/// </summary>
[Collection(Gpu.Apps)]
public sealed class DemoTests(GpuFixture gpu) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("wfvae-demo-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private (int Code, string Log) Run(params string[] args)
    {
        var log = new StringWriter();
        int code = DemoApp.Run(args, log);
        return (code, log.ToString());
    }

    private string Device => gpu.Device.Info.Index.ToString(CultureInfo.InvariantCulture);

    [Fact]
    public void DefaultClipAndModelProduceTheReport()
    {
        string output = Path.Combine(_dir, "report");
        var (code, log) = Run("--frames", "9", "--size", "32x32", "--devices", Device, "--output", output);
        Assert.True(code == 0, log);

        string md = File.ReadAllText(Path.Combine(output, "report.md"));
        Assert.True(File.Exists(Path.Combine(output, "report.html")));
        Assert.Contains(gpu.Device.Info.Name, md);
        // The shipped real clip, credited, and the shipped model, flagged only if it is untrained.
        Assert.Contains(DemoClip.Credit, md);
        bool untrained = WfVae.Model.Checkpoint.DefaultModel.IsUntrained(WfVae.Model.Checkpoint.DefaultModel.Locate());
        Assert.Matches(new Regex(untrained ? @"\| \d+\.\d\d dB \(untrained weights: meaningless\) \|" : @"\| \d+\.\d\d dB \|"), md);
        Assert.Equal(untrained, md.Contains(Report.UntrainedNote));
        Assert.Contains("**Latents agree across devices:** yes", md);
        // 9 frames in chunks of 4 after the first: three encoder pushes, then the decoder's flush.
        Assert.Contains("| 2 | 4 | 1 |", md);
        Assert.Contains("| flush | 0 | 0 |", md);

        string html = File.ReadAllText(Path.Combine(output, "report.html"));
        Assert.Contains("<img src=\"contact-sheet.png\"", html);
        Assert.Contains(gpu.Device.Info.Name, html);

        // Rows: input + one device; columns: frames 0, 4, 8. Tiles of 32x32 are enlarged 4x to 128x128,
        // with a 4-pixel gap around each: 3*128 + 4*4 = 400 wide, 2*128 + 3*4 = 268 high.
        var (width, height) = ReadPngSize(Path.Combine(output, "contact-sheet.png"));
        Assert.Equal((400, 268), (width, height));
        Assert.Equal((width, height), ContactSheet.Size(2, 3, 32, 32));

        // Atomic writes leave no temporary files behind.
        Assert.Equal(3, Directory.GetFiles(output).Length);
        gpu.AssertClean();
    }

    [Fact]
    public void UntrainedModelIsFlaggedBesideEveryQualityFigure()
    {
        string model = Path.Combine(_dir, "untrained");
        Directory.CreateDirectory(model);
        File.Copy(Path.Combine(TestPaths.Golden("tiny"), "config.json"), Path.Combine(model, "config.json"));
        File.Copy(Path.Combine(TestPaths.Golden("tiny"), "model.safetensors"), Path.Combine(model, "diffusion_pytorch_model.safetensors"));
        File.WriteAllText(Path.Combine(model, "UNTRAINED.txt"), "random weights");
        string output = Path.Combine(_dir, "report");
        var (code, log) = Run("--model", model, "--synthetic", "--frames", "5", "--size", "16x16", "--devices", Device, "--output", output);
        Assert.True(code == 0, log);
        string md = File.ReadAllText(Path.Combine(output, "report.md"));
        Assert.Matches(new Regex(@"\| \d+\.\d\d dB \(untrained weights: meaningless\) \|"), md);
        Assert.Contains(Report.UntrainedNote, md);
        Assert.DoesNotContain(DemoClip.Credit, md);
        gpu.AssertClean();
    }

    [Fact]
    public void ModelWithoutTheUntrainedMarkerGetsNoWarningAndUnevenChunksStream()
    {
        // The golden tiny checkpoint is the same file as the default model, without UNTRAINED.txt beside it.
        string model = Path.Combine(TestPaths.Golden("tiny"), "model.safetensors");
        string output = Path.Combine(_dir, "report");
        var (code, log) = Run("--model", model, "--frames", "5", "--size", "16x16", "--chunk", "3", "--devices", Device, "--output", output);
        Assert.True(code == 0, log);
        string md = File.ReadAllText(Path.Combine(output, "report.md"));
        Assert.DoesNotContain("untrained", md, StringComparison.OrdinalIgnoreCase);
        Assert.Matches(new Regex(@"\| \d+\.\d\d dB \|"), md);
        // Pushes of 1, 3 and 1 frames: the 3-frame push completes no group of 4, so it yields no latent.
        Assert.Contains("| 1 | 3 | 0 |", md);
        Assert.Contains("| 2 | 1 | 1 |", md);
        gpu.AssertClean();
    }

    [Fact]
    public void VideoInputIsScaledAndCutToWholeLatentGroups()
    {
        // 7 frames of 80x45: scaled to cover 16x16 and cropped; frames 6 and 7 complete no group of 4.
        string clip = Path.Combine(_dir, "clip.mp4");
        Media.MediaTools.Run("ffmpeg", "-f", "lavfi", "-i", "testsrc2=size=80x45:rate=12", "-frames:v", "7", "-pix_fmt", "yuv420p", clip);
        string output = Path.Combine(_dir, "report");
        var (code, log) = Run("--input", clip, "--size", "16x16", "--devices", Device, "--output", output);
        Assert.True(code == 0, log);
        string md = File.ReadAllText(Path.Combine(output, "report.md"));
        Assert.Contains("first 5 frames scaled and centre-cropped to 16x16", md);
        Assert.Contains("over all 5 frames", md);
        // Rows: input + one device; columns: frames 0 and 4; 16x16 tiles enlarged 8x.
        Assert.Equal((2 * 128 + 3 * 4, 2 * 128 + 3 * 4), ReadPngSize(Path.Combine(output, "contact-sheet.png")));
        gpu.AssertClean();
    }

    [Theory]
    [InlineData("--frames", "10")]
    [InlineData("--size", "30x32")]
    [InlineData("--chunk", "0")]
    [InlineData("--bogus", "1")]
    public void BadOptionsAreUsageErrors(string name, string value)
    {
        var (code, log) = Run(name, value);
        Assert.Equal(2, code);
        Assert.Contains(name, log);
        Assert.Single(log.TrimEnd().Split('\n'));
    }

    [Fact]
    public void UnknownOptionLastIsNamedUnknown()
    {
        var (code, log) = Run("--bogus");
        Assert.Equal(2, code);
        Assert.Contains("unknown option '--bogus'", log);
    }

    [Fact]
    public void SyntheticAndInputExcludeEachOther()
    {
        var (code, log) = Run("--synthetic", "--input", "clip.mp4");
        Assert.Equal(2, code);
        Assert.Contains("--synthetic and --input", log);
    }

    [Fact]
    public void MissingModelIsOneLineError()
    {
        var (code, log) = Run("--model", Path.Combine(_dir, "nowhere"), "--output", Path.Combine(_dir, "report"));
        Assert.Equal(1, code);
        Assert.Contains("does not exist", log);
        Assert.Single(log.TrimEnd().Split('\n'));
    }

    [Fact]
    public void AReportFolderThatCannotBeMadeFailsBeforeAnyDeviceRuns()
    {
        var file = Path.Combine(_dir, "a-file");
        File.WriteAllText(file, "");
        var (code, log) = Run("--synthetic", "--frames", "5", "--size", "16x16", "--devices", Device, "--output", Path.Combine(file, "report"));
        Assert.Equal(1, code);
        Assert.Contains("a-file", log);
        Assert.DoesNotContain("device ", log); // no device was started
    }

    [Fact]
    public void AReportFileThatCannotBeWrittenFailsBeforeAnyDeviceRuns()
    {
        // A folder where report.html should go stands for any report file that cannot be written (root writes
        // into read-only folders, so that case cannot be made here).
        var report = Path.Combine(_dir, "report");
        Directory.CreateDirectory(Path.Combine(report, "report.html"));
        var (code, log) = Run("--synthetic", "--frames", "5", "--size", "16x16", "--devices", Device, "--output", report);
        Assert.Equal(1, code);
        Assert.Contains("report.html", log);
        Assert.DoesNotContain("device ", log);
        Assert.Equal(["report.html"], Directory.GetFileSystemEntries(report).Select(f => Path.GetFileName(f)!).ToArray()); // no temporaries left
    }

    [Fact]
    public void ReportNamesAFailedDeviceAndDisagreeingLatents()
    {
        // No GPU needed: the report is built from results as the devices would have returned them.
        static DeviceResult Ran(int index, string name, float[] latents) => new()
        {
            Info = new WfVae.Runtime.PhysicalDeviceInfo(index, name, WfVae.Runtime.DeviceKind.DiscreteGpu, 0x10DE, 1, "1.3", "test", 1L << 30, false, 1L << 30, 49152, 32, true, true, 1, true),
            Latents = latents, Decoded = [0.5f], DecodedFrames = 1, Psnr = 30, Ssim = 0.9,
            Chunks = { new ChunkTiming(0, 1, 1, 10, 1, 20), new ChunkTiming(1, 0, 0, 0, 0, 5) },
        };
        var a = Ran(0, "GPU A", [1f, -1f, 1f, -1f]);
        var b = Ran(1, "GPU B", [1f, -1f, 1f, -1.01f]);  // rel_err 1e-2
        var c = Ran(2, "GPU C", [1f, -1f, 1f, -1f]);
        c.Error = "VulkanException: vkQueueSubmit failed: ErrorDeviceLost";
        var results = new[] { a, b, c };
        var agreements = LatentAgreement.Compare(results);
        Assert.Equal(2, agreements.Count);
        Assert.Equal(0.01, agreements[1].LatentRelErr, 1e-6);
        var clip = SyntheticClip.Generate(1, 16, 16);
        var model = new ModelSummary("m", WfVae.Model.Checkpoint.WfVaeConfig.WfVaeL16Chn, 1, 2, "abcdef", Untrained: false);
        var outcome = new DemoOutcome(new DemoOptions(), clip, model, results, agreements, [0]);
        Assert.False(outcome.AllRan);
        Assert.False(outcome.LatentsAgree);

        string md = Report.Build(outcome).ToMarkdown();
        Assert.Contains("**Latents agree across devices:** **no**", md);
        Assert.Contains("| [1] GPU B | 1.0e-2 |", md);
        Assert.Contains("## Failure on [2] GPU C", md);
        Assert.Contains("ErrorDeviceLost", md);
        Assert.Contains("| 30.00 dB |", md);
        Assert.DoesNotContain("untrained", md, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Checks the PNG signature and the IHDR chunk (first, 13 bytes, 8-bit RGB) and returns the size.</summary>
    private static (int Width, int Height) ReadPngSize(string path)
    {
        byte[] png = File.ReadAllBytes(path);
        Assert.True(png.Length > 33, "PNG too short");
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
        Assert.Equal(13u, BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(8)));
        Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(png, 12, 4));
        int width = (int)BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(16));
        int height = (int)BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(20));
        Assert.Equal(8, png[24]);  // bit depth
        Assert.Equal(2, png[25]);  // colour type: RGB
        Assert.Equal("IEND", System.Text.Encoding.ASCII.GetString(png, png.Length - 8, 4));
        return (width, height);
    }
}

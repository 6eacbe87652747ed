using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using WfVae.Model.Checkpoint;
using WfVae.Streaming;
using WfVae.Streaming.LatentStream;
using WfVae.Tests.Cli;
using WfVae.Tests.Media;
using Xunit;
using Xunit.Abstractions;

namespace WfVae.Tests.Plugin;

/// <summary>
/// Runs the copy-paste commands of docs/plugin.md ("frei0r plugins", each marked <c>&lt;!-- test: name --&gt;</c>)
/// verbatim with bash in a scratch folder, with FREI0R_PATH on the test build of the plugins, and gives the
/// checks the CLI's view of what they wrote. HOME and GStreamer's registry point into the folder, so no
/// user configuration or cached plugin list takes part.
/// </summary>
/// <summary>Input frames and what the CLI makes of them (see <see cref="Frei0rHosts.Reference"/>).</summary>
internal sealed record Frei0rReference(IReadOnlyList<byte[]> Input, float[] Mean, float[] Logvar, LatentStreamTrailer? Trailer, List<byte[]> Recon);

internal sealed class Frei0rHosts : IDisposable
{
    public const int Width = 64, Height = 48, Frames = 11, Fps = 8;

    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("wfvae-frei0r-");

    public string Dir => _dir.FullName;
    public string File(string name) => Path.Combine(Dir, name);
    public static string DefaultModel => Path.Combine(TestPaths.RepoRoot, "demo", "assets", "default-model");
    public static int FrameBytes => 3 * Width * Height;

    private static readonly Lazy<Frei0rReference> ClipReference = new(() =>
    {
        // The documented clip is the same every time (lavfi testsrc2, lossless): its reference is computed once.
        using var hosts = new Frei0rHosts();
        hosts.RunDocumented("clip");
        return hosts.Reference(hosts.Rgb24Frames(hosts.File("clip.mkv")), "clip");
    }, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Runs the documented "clip" command here and returns the clip's (shared) CLI reference.</summary>
    public Frei0rReference Clip()
    {
        RunDocumented("clip");
        var reference = ClipReference.Value;
        Assert.Equal(Frames, reference.Input.Count);
        AssertFramesEqual("clip.mkv", reference.Input, Rgb24Frames(File("clip.mkv")));
        return reference;
    }

    /// <summary>What every host runs with: the test build of the plugins on FREI0R_PATH, HOME and the GStreamer registry here.</summary>
    public Dictionary<string, string> Environment => new()
    {
        ["FREI0R_PATH"] = Frei0rBuild.Get().PluginDir,
        ["HOME"] = Dir,
        ["GST_REGISTRY"] = File("gst-registry.bin"),
    };

    /// <summary>The block after <c>&lt;!-- test: name --&gt;</c> in docs/plugin.md.</summary>
    public static string Command(string name)
    {
        var doc = System.IO.File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "docs", "plugin.md"));
        var m = Regex.Match(doc, $@"<!-- test: {Regex.Escape(name)} -->\s*```sh\n(.*?)```", RegexOptions.Singleline);
        Assert.True(m.Success, $"docs/plugin.md has no command block marked 'test: {name}'");
        return m.Groups[1].Value.Trim();
    }

    /// <summary>Runs a documented command; it must exit 0. Returns its output (stdout then stderr).</summary>
    public string RunDocumented(string name) => RunDocumented(name, TimeSpan.FromMinutes(5));

    /// <summary>
    /// <see cref="RunDocumented(string)"/> for a host known to stop now and then without finishing its output: a run
    /// that has not ended within <paramref name="limit"/> is killed, or one that exited 0 but left
    /// <paramref name="output"/> unreadable to ffprobe, and the command runs once more (logged to <paramref name="log"/>);
    /// the second run is checked as usual. melt did both in CI (stops 19 and 20, about 1 run in 25, under load): its
    /// main loop kept waiting with only idle threads left and nothing written, or it exited 0 with a truncated file.
    /// </summary>
    public string RunDocumentedRetryingIncomplete(string name, TimeSpan limit, string output, ITestOutputHelper log)
    {
        try
        {
            var first = RunDocumented(name, limit);
            if (IsReadableVideo(File(output))) return first;
            log.WriteLine($"{name}: exited 0 but {output} is not a readable video; running it once more");
        }
        catch (TimeoutException e)
        {
            log.WriteLine($"{name}: the host hung ({e.Message}); running it once more");
        }
        return RunDocumented(name, limit);
    }

    private static bool IsReadableVideo(string path)
    {
        using var p = MediaTools.Start("ffprobe", "-v", "error", path);
        p.StandardOutput.ReadToEnd();
        p.StandardError.ReadToEnd();
        return p.WaitForExit(60_000) && p.ExitCode == 0;
    }

    private string RunDocumented(string name, TimeSpan limit)
    {
        var script = Command(name);
        var run = NativePluginBuild.Run("bash", ["-e", "-o", "pipefail", "-c", script], limit, Dir, Environment);
        Assert.True(run.Exit == 0, $"'{script}' exited with {run.Exit}:\n{run.Output}");
        return run.Output;
    }

    /// <summary>A video file's frames as RGB24, decoded by the ffmpeg CLI.</summary>
    public List<byte[]> Rgb24Frames(string video)
    {
        var raw = File(Path.GetFileName(video) + ".rgb");
        MediaTools.Run("ffmpeg", "-i", video, "-f", "rawvideo", "-pix_fmt", "rgb24", raw);
        return Split(raw);
    }

    public static List<byte[]> Split(string rawRgb24)
    {
        var bytes = System.IO.File.ReadAllBytes(rawRgb24);
        Assert.True(bytes.Length % FrameBytes == 0, $"{rawRgb24}: {bytes.Length} bytes is not a whole number of {Width}x{Height} RGB24 frames");
        return Enumerable.Range(0, bytes.Length / FrameBytes).Select(i => bytes.AsSpan(i * FrameBytes, FrameBytes).ToArray()).ToList();
    }

    /// <summary>Runs the CLI in-process; it must exit 0.</summary>
    public static void Cli(params string[] args)
    {
        var r = CliRunner.Run(args);
        Assert.True(r.Code == 0, $"wfvae {string.Join(' ', args)} exited with {r.Code}: {r.Err}");
    }

    /// <summary>`wfvae encode` of raw RGB24 frames, with the default model: the reference .wfl.</summary>
    public string EncodeWithCli(IReadOnlyList<byte[]> frames, string name)
    {
        var raw = File(name + ".input.rgb");
        System.IO.File.WriteAllBytes(raw, frames.SelectMany(f => f).ToArray());
        var wfl = File(name + ".cli.wfl");
        Cli("encode", "--model", DefaultModel, "--raw", $"{Width}x{Height}@{Fps}", "--input", raw, "--output", wfl, "--quiet");
        return wfl;
    }

    /// <summary>`wfvae decode --raw rgb24` of a stream (its intact part: --allow-incomplete), as frames.</summary>
    public List<byte[]> DecodeWithCli(string wfl)
    {
        var raw = File(Path.GetFileName(wfl) + ".decoded.rgb");
        Cli("decode", "--model", DefaultModel, "--input", wfl, "--raw", "rgb24", "--output", raw, "--quiet", "--allow-incomplete");
        return Split(raw);
    }

    /// <summary>`wfvae recon` of raw RGB24 frames, as frames.</summary>
    public List<byte[]> ReconWithCli(IReadOnlyList<byte[]> frames, string name)
    {
        var raw = File(name + ".recon-input.rgb");
        System.IO.File.WriteAllBytes(raw, frames.SelectMany(f => f).ToArray());
        var output = File(name + ".recon.rgb");
        Cli("recon", "--model", DefaultModel, "--raw", $"{Width}x{Height}@{Fps}", "--input", raw, "--output", output, "--quiet");
        return Split(output);
    }

    /// <summary>
    /// The host's .wfl against `wfvae encode` of the same frames (<paramref name="reference"/>): mean and logvar
    /// bit for bit, the same trailer (true frame count, padding, chunks) and frame rate; then `wfvae decode` of
    /// the host's file gives as many frames as went in, equal to `wfvae recon`'s frames of the input (so its
    /// PSNR is the one `wfvae recon` reports). Returns the decoded frames.
    /// </summary>
    public List<byte[]> AssertSameAsCli(string hostWfl, Frei0rReference reference, string name)
    {
        using (var host = LatentStreamReader.Open(hostWfl))
        {
            var (mean, logvar) = host.ReadAll();
            AssertBits($"{name} mean", reference.Mean, mean.Data);
            AssertBits($"{name} logvar", reference.Logvar, logvar!.Data);
            Assert.Equal(reference.Trailer, host.Trailer);
            Assert.Equal(reference.Input.Count, host.Trailer!.VideoFrames);
            Assert.Equal((Fps, 1), (host.Header.FrameRateNum, host.Header.FrameRateDen));
        }
        var decoded = DecodeWithCli(hostWfl);
        Assert.Equal(reference.Input.Count, decoded.Count);
        Assert.Equal(WfVae.Media.ImageMetrics.MeanPsnr(reference.Input, reference.Recon), WfVae.Media.ImageMetrics.MeanPsnr(reference.Input, decoded));
        AssertFramesEqual($"{name}: wfvae decode vs wfvae recon", reference.Recon, decoded);
        return decoded;
    }

    /// <summary>What the CLI makes of <paramref name="frames"/>: `wfvae encode`'s latents and trailer, `wfvae recon`'s frames.</summary>
    public Frei0rReference Reference(IReadOnlyList<byte[]> frames, string name)
    {
        using var cli = LatentStreamReader.Open(EncodeWithCli(frames, name));
        var (mean, logvar) = cli.ReadAll();
        return new Frei0rReference(frames, mean.Data, logvar!.Data, cli.Trailer, ReconWithCli(frames, name));
    }

    public static void AssertBits(string what, float[] expected, float[] actual)
    {
        Assert.True(expected.Length == actual.Length, $"{what}: {actual.Length} values, expected {expected.Length}");
        var e = MemoryMarshal.Cast<float, int>(expected);
        var a = MemoryMarshal.Cast<float, int>(actual);
        int first = -1;
        for (int i = 0; i < e.Length && first < 0; i++) if (e[i] != a[i]) first = i;
        Assert.True(first < 0, $"{what}: value {first} differs ({actual[Math.Max(first, 0)]:R} vs {expected[Math.Max(first, 0)]:R})");
    }

    public static void AssertFramesEqual(string what, IReadOnlyList<byte[]> expected, IReadOnlyList<byte[]> actual)
    {
        Assert.True(expected.Count == actual.Count, $"{what}: {actual.Count} frames, expected {expected.Count}");
        for (int i = 0; i < expected.Count; i++) Assert.True(expected[i].AsSpan().SequenceEqual(actual[i]), $"{what}: frame {i} differs");
    }

    /// <summary>Output frame n of the reconstruct switch: recon frame max(0, n − delay).</summary>
    public static int ReconstructionDelay() =>
        3 + 2 * StreamingDecoder.OutputDelayFor(WfVaeConfig.Load(Path.Combine(DefaultModel, "config.json")));

    public void Dispose()
    {
        try { _dir.Delete(recursive: true); }
        catch (IOException) { }
    }
}

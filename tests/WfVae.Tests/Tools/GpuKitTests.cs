using System.Diagnostics;
using System.Text.Json.Nodes;
using WfVae.Tests.Cli;
using Xunit;

namespace WfVae.Tests.Tools;

/// <summary>
/// The GPU kit (tools/gpu/kit.py, docs/gpu.md): its smallest rehearsal runs every step on this machine's Vulkan
/// device with the Debug build, and each way it can break (no wfvae, no driver, no loader, a step out of time, a
/// stop) is reported as the failing step with its reason, a nonzero exit, and the results measured before it.
/// </summary>
public sealed class GpuKitTests : IDisposable
{
    private static readonly string[] AllSteps = ["setup", "devices", "verify", "weights", "identity", "bench", "peer", "stream"];
    private readonly string _dir = Directory.CreateTempSubdirectory("wfvae-gpu-kit-test-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Out => Path.Combine(_dir, "out");

    /// <summary>The apphost of the CLI built with the tests (same configuration).</summary>
    private static string Wfvae
    {
        get
        {
            var config = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}") ? "Release" : "Debug";
            var path = Path.Combine(TestPaths.RepoRoot, "src", "WfVae.Cli", "bin", config, "net10.0", "wfvae");
            Assert.True(File.Exists(path), $"{path} not built");
            return path;
        }
    }

    [Fact]
    public void RehearsalRunsEveryStepAndWritesTheSummary()
    {
        // Validation layers off: this checks the kit's steps; the engine's own tests run with them on.
        var (code, output) = RunKit(["--rehearse", "--quick", "--wfvae", Wfvae, "--loader", "system"],
            new() { ["WFVAE_VALIDATION"] = "0", ["WFVAE_PYTHON"] = PeerBenchTests.SystemPython });
        var summary = Summary();
        var steps = summary["steps"]!.AsArray();
        Assert.True(code == 0, output + File.ReadAllText(Path.Combine(Out, "summary.md")));
        Assert.Equal(AllSteps, steps.Select(s => s!["name"]!.GetValue<string>()));
        Assert.All(steps, s => Assert.Equal("ok", s!["status"]!.GetValue<string>()));
        Assert.All(steps, s => Assert.True(s!["seconds"]!.GetValue<double>() >= 0));

        Assert.Contains("mapped by the host", Step(summary, "devices")["memory"]!.GetValue<string>()); // lavapipe: host-cached

        var verify = Step(summary, "verify")["runs"]!.AsArray();
        Assert.Contains(verify, r => r!["mode"]!.GetValue<string>() == "fp32" && r["mean"]!.GetValue<double>() <= 1e-4);
        Assert.Contains(verify, r => r!["mode"]!.GetValue<string>() == "fp16" && r["decoded"]!.GetValue<double>() <= 4e-2);
        Assert.All(verify, r => Assert.StartsWith("scalar conv", r!["convs"]!.GetValue<string>()));

        var identity = Step(summary, "identity")["runs"]![0]!;
        Assert.True(identity["encode_identical"]!.GetValue<bool>() && identity["decode_identical"]!.GetValue<bool>());

        foreach (var run in Step(summary, "bench")["runs"]!.AsArray())
        {
            Assert.True(run!["encode_s"]!.GetValue<double>() > 0 && run["decode_s"]!.GetValue<double>() > 0);
            Assert.True(run["decode_peak_device_bytes"]!.GetValue<long>() > run["weight_bytes"]!.GetValue<long>());
            Assert.NotEmpty(run["decoder_layers"]!.AsArray());
        }
        var peer = Step(summary, "peer");
        Assert.Equal(1, peer["golden"]!["passed"]!.GetValue<int>());
        Assert.True(peer["clips"]![0]!["decode_s"]!.GetValue<double>() > 0);
        Assert.True(summary["comparison"]![0]!["speedup"]!.GetValue<double>() > 0);

        var stream = Step(summary, "stream");
        Assert.Equal(4 * 5 - 3, stream["frames_out"]!.GetValue<int>());
        Assert.True(stream["frames_per_s_steady"]!.GetValue<double>() > 0);

        var md = File.ReadAllText(Path.Combine(Out, "summary.md"));
        Assert.Contains("- memory: ", md);
        foreach (var heading in new[] { "| step | status |", "## verify", "## identity", "## bench", "## peer", "## engine vs twin", "## stream" })
            Assert.Contains(heading, md);
    }

    [Fact]
    public void MissingWfvaeFailsSetupAndSkipsWhatNeedsIt()
    {
        var (code, _) = RunKit(["--wfvae", Path.Combine(_dir, "no-such-wfvae"), "--steps", "devices"]);
        Assert.Equal(1, code);
        var summary = Summary();
        Assert.Equal("failed", Step(summary, "setup")["status"]!.GetValue<string>());
        Assert.Contains("no-such-wfvae", Step(summary, "setup")["reason"]!.GetValue<string>());
        Assert.Equal("skipped", Step(summary, "devices")["status"]!.GetValue<string>());
        Assert.Contains("needs setup", Step(summary, "devices")["reason"]!.GetValue<string>());
        Assert.Contains("| setup | failed |", File.ReadAllText(Path.Combine(Out, "summary.md")));
    }

    [Fact]
    public void NoVulkanDriverFailsTheDevicesStepWithTheLoadersReason()
    {
        var missing = Path.Combine(_dir, "no-such-icd.json");
        var (code, _) = RunKit(["--wfvae", Wfvae, "--loader", "system", "--steps", "devices"],
            new() { ["VK_DRIVER_FILES"] = missing, ["VK_ICD_FILENAMES"] = missing });
        Assert.Equal(1, code);
        var devices = Step(Summary(), "devices");
        Assert.Equal("failed", devices["status"]!.GetValue<string>());
        var reason = devices["reason"]!.GetValue<string>();
        Assert.Contains("wfvae devices:", reason);
        Assert.Contains("no compatible driver", reason);
        Assert.Contains(missing, reason);
        Assert.Equal("ok", Step(Summary(), "setup")["status"]!.GetValue<string>());
    }

    [Fact]
    public void PayloadWithoutALoaderFailsSetup()
    {
        var payload = Directory.CreateDirectory(Path.Combine(_dir, "payload")).FullName;
        var (code, _) = RunKit(["--wfvae", Wfvae, "--loader", "bundled", "--payload", payload, "--steps", "setup"]);
        Assert.Equal(1, code);
        Assert.Contains("no .deb files", Step(Summary(), "setup")["reason"]!.GetValue<string>());
    }

    [Fact]
    public void BundledLoaderIsUnpackedFromItsDebianPackage()
    {
        // A stand-in for Debian's libvulkan1: the library under its multiarch folder, reached through a link.
        var root = Path.Combine(_dir, "pkg");
        var lib = Directory.CreateDirectory(Path.Combine(root, "usr", "lib", "x86_64-linux-gnu")).FullName;
        File.WriteAllText(Path.Combine(lib, "libvulkan.so.1.3.239"), "not a real library");
        File.CreateSymbolicLink(Path.Combine(lib, "libvulkan.so.1"), "libvulkan.so.1.3.239");
        Directory.CreateDirectory(Path.Combine(root, "DEBIAN"));
        File.WriteAllText(Path.Combine(root, "DEBIAN", "control"),
            "Package: libvulkan1\nVersion: 1.3.239.0-1\nArchitecture: amd64\nMaintainer: test <t@example.org>\nDescription: test\n");
        var payload = Directory.CreateDirectory(Path.Combine(_dir, "payload", "deb")).Parent!.FullName;
        Run("dpkg-deb", "--build", root, Path.Combine(payload, "deb", "libvulkan1_1.3.239.0-1_amd64.deb"));

        var work = Path.Combine(_dir, "work");
        var (code, output) = RunKit(["--wfvae", Wfvae, "--loader", "bundled", "--payload", payload, "--work", work, "--steps", "setup"]);
        Assert.True(code == 0, output);
        var setup = Step(Summary(), "setup");
        Assert.StartsWith("bundled: libvulkan1_1.3.239.0-1_amd64.deb", setup["loader"]!.GetValue<string>());
        var unpacked = Path.Combine(work, "vulkan-root", "usr", "lib", "x86_64-linux-gnu");
        Assert.StartsWith(unpacked, setup["ld_library_path"]!.GetValue<string>());
        Assert.Equal("not a real library", File.ReadAllText(Path.Combine(unpacked, "libvulkan.so.1")));
    }

    [Fact]
    public void StepPastItsTimeIsKilledAndReportedWithWhatCameBefore()
    {
        var (code, _) = RunKit(["--wfvae", FakeWfvae(), "--loader", "system", "--steps", "verify", "--budget", "6"]);
        Assert.Equal(1, code);
        var summary = Summary();
        Assert.Contains("Fake GPU", Step(summary, "devices")["selected"]!.GetValue<string>());
        var verify = Step(summary, "verify");
        Assert.Equal("failed", verify["status"]!.GetValue<string>());
        Assert.Contains("timed out", verify["reason"]!.GetValue<string>());
    }

    [Fact]
    public void StoppedKitKeepsItsResultsAndMarksTheRest()
    {
        var psi = KitStart(["--wfvae", FakeWfvae(), "--loader", "system"], new());
        using var kit = Process.Start(psi)!;
        var output = kit.StandardOutput.ReadToEndAsync();
        var errors = kit.StandardError.ReadToEndAsync();
        var summaryPath = Path.Combine(Out, "summary.json");
        // Wait for the devices step's record (the fake's verify then sleeps), then stop the kit as a lease end would.
        for (int i = 0; i < 600 && !(File.Exists(summaryPath) && File.ReadAllText(summaryPath).Contains("Fake GPU")); i++)
            Thread.Sleep(100);
        Run("kill", "-TERM", kit.Id.ToString());
        Assert.True(kit.WaitForExit(60_000), "the kit did not stop");
        Assert.Equal(1, kit.ExitCode);
        var summary = Summary();
        Assert.Equal("ok", Step(summary, "devices")["status"]!.GetValue<string>());
        Assert.Contains("stopped", Step(summary, "verify")["reason"]!.GetValue<string>());
        Assert.Equal(AllSteps, summary["steps"]!.AsArray().Select(s => s!["name"]!.GetValue<string>()));
        Assert.Equal("the kit was stopped", Step(summary, "stream")["reason"]!.GetValue<string>());
        Assert.Contains("stopped", output.Result);
    }

    /// <summary>A wfvae that knows help and devices (one GPU) and hangs on anything else.</summary>
    private string FakeWfvae()
    {
        var path = Path.Combine(_dir, "fake-wfvae");
        File.WriteAllText(path, """
            #!/bin/sh
            case "$1" in
              help) exit 0 ;;
              devices) echo "* [0] Fake GPU (DiscreteGpu, NVIDIA, Vulkan 1.3.0, fake, 1.0 GiB)"
                       echo "      cooperative matrix: none, scalar conv — fake"; exit 0 ;;
              *) sleep 120 ;;
            esac
            """.Replace("\r", ""));
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    private JsonNode Summary() => JsonNode.Parse(File.ReadAllText(Path.Combine(Out, "summary.json")))!;

    private static JsonNode Step(JsonNode summary, string name) =>
        summary["steps"]!.AsArray().First(s => s!["name"]!.GetValue<string>() == name)!;

    private ProcessStartInfo KitStart(string[] args, Dictionary<string, string> env)
    {
        var psi = new ProcessStartInfo(PeerBenchTests.SystemPython) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(TestPaths.RepoRoot, "tools", "gpu", "kit.py"));
        foreach (var a in args.Concat(["--out", Out])) psi.ArgumentList.Add(a);
        psi.Environment.Remove("OUT");
        foreach (var (k, v) in env) psi.Environment[k] = v;
        return psi;
    }

    private (int Code, string Output) RunKit(string[] args, Dictionary<string, string>? env = null)
    {
        using var p = Process.Start(KitStart(args, env ?? new()))!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(900_000))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail("the kit did not finish within 15 minutes");
        }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    private static void Run(string command, params string[] args)
    {
        var psi = new ProcessStartInfo(command) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{command} failed: {err.Result}");
    }
}

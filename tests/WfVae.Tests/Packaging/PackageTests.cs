using System.Runtime.InteropServices;
using WfVae.Model;
using WfVae.Tests.Plugin;
using Xunit;
using Xunit.Abstractions;

namespace WfVae.Tests.Packaging;

/// <summary>
/// The NuGet packages as a user gets them: packed into a temporary local feed, the `wfvae` tool installed
/// from it with `dotnet tool install --tool-path` and run, and a console project built against the
/// WfVae.Model package from it. Packing reuses the Debug build the tests run on (`--no-build`; `build.ps1
/// pack` builds Release), with a version unique to the run, and restores go to a private packages folder
/// (the machine's global folder only as a read-only fallback), so no earlier package is ever picked up and
/// nothing is added to the user's cache. Sources: the local feed plus the NuGet source this machine has.
/// </summary>
[Collection(Gpu.Apps)]
public sealed class PackageTests(GpuFixture gpu, ITestOutputHelper log)
{
    private static readonly Lazy<Feed> Packed = new(() => new Feed(), LazyThreadSafetyMode.ExecutionAndPublication);

    [Fact]
    public void Tool_installs_from_the_feed_and_runs_devices_verify_and_the_default_model()
    {
        var feed = Packed.Value;
        var tools = Path.Combine(feed.Dir, "tools");
        feed.Dotnet(["tool", "install", "wfvae", "--version", feed.Version, "--tool-path", tools, "--add-source", feed.PackageDir], feed.Dir);
        string wfvae = Path.Combine(tools, OperatingSystem.IsWindows() ? "wfvae.exe" : "wfvae");

        var devices = NativePluginBuild.Run(wfvae, ["devices"], TimeSpan.FromMinutes(2), feed.Dir);
        log.WriteLine(devices.Output);
        Assert.True(devices.Exit == 0, devices.Output);
        Assert.Matches(@"(?m)^\* \[0\] ", devices.Stdout); // device 0 listed and marked as the one used

        var verify = NativePluginBuild.Run(wfvae, ["verify", "--case", TestPaths.Golden("tiny")], TimeSpan.FromMinutes(5), feed.Dir);
        log.WriteLine(verify.Output);
        Assert.True(verify.Exit == 0, verify.Output);
        Assert.Contains(TestPaths.Golden("tiny"), verify.Stdout);

        // The default model travels in the tool package: without --model the installed tool finds it beside itself.
        var info = NativePluginBuild.Run(wfvae, ["info"], TimeSpan.FromMinutes(2), feed.Dir);
        log.WriteLine(info.Output);
        Assert.True(info.Exit == 0, info.Output);
        Assert.Matches(@"(?m)^model: +\S*" + System.Text.RegularExpressions.Regex.Escape(Path.Combine(tools, ".store")) + @"\S*default-model", info.Stdout);
    }

    [Fact]
    public void Console_project_referencing_the_library_package_encodes_a_clip_like_the_engine()
    {
        var feed = Packed.Value;
        var project = Path.Combine(feed.Dir, "sample");
        Directory.CreateDirectory(project);
        foreach (var file in new[] { "Sample.csproj", "Program.cs" })
            File.Copy(Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "package-sample", file), Path.Combine(project, file));
        // The feed joins the sources NuGet is configured with on this machine (a nuget.config beside the project).
        File.WriteAllText(Path.Combine(project, "nuget.config"),
            $"<configuration><packageSources><add key=\"wfvae-test-feed\" value=\"{feed.PackageDir}\" /></packageSources></configuration>");
        feed.Dotnet(["build", project, "-c", "Release", $"-p:WfVaeVersion={feed.Version}", "-nodeReuse:false"], project);

        var model = Path.Combine(TestPaths.RepoRoot, "demo", "assets", "default-model");
        var output = Path.Combine(feed.Dir, "mean.f32");
        var run = NativePluginBuild.Run(Feed.DotnetHost, [Path.Combine(project, "bin", "Release", "net10.0", "Sample.dll"), model, output], TimeSpan.FromMinutes(3), project);
        log.WriteLine(run.Output);
        Assert.True(run.Exit == 0, run.Output);
        Assert.Contains("encoded 9x48x32", run.Stdout);

        // The same clip through the engine in this process: the packaged library gives the same latents.
        const int frames = 9, height = 32, width = 48;
        var data = new float[3 * frames * height * width];
        for (int i = 0; i < data.Length; i++) data[i] = MathF.Sin(i * 0.013f) * 0.9f;
        using var engine = WfVaeModel.Load(model, gpu.Device);
        var mean = engine.Encode(new HostTensor(data, 1, 3, frames, height, width)).Mean.Data;
        Frei0rHosts.AssertBits("packaged vs in-process mean", mean, MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(output)).ToArray());
    }

    /// <summary>The packages of this build in a scratch feed, and the environment every restore from it uses.</summary>
    private sealed class Feed
    {
        public static string DotnetHost => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h && File.Exists(h) ? h : "dotnet";

        public string Dir { get; } = Directory.CreateTempSubdirectory("wfvae-packages-").FullName;
        public string PackageDir => Path.Combine(Dir, "feed");
        /// <summary>A prerelease version no cache has seen: restores must take this run's packages.</summary>
        public string Version { get; } = $"0.0.0-test.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";
        private readonly Dictionary<string, string> _environment;

        public Feed()
        {
            var global = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } g ? g
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
            // Shared by the tests of this run: removed when the test process ends.
            AppDomain.CurrentDomain.ProcessExit += (_, _) =>
            {
                try { Directory.Delete(Dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            };
            _environment = new()
            {
                ["NUGET_PACKAGES"] = Path.Combine(Dir, "packages"),
                ["RestoreFallbackFolders"] = global,
                ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
                ["DOTNET_NOLOGO"] = "1",
            };
            Dotnet(["pack", Path.Combine(TestPaths.RepoRoot, TestPaths.SolutionFileName), "-c", "Debug", "--no-build", "-o", PackageDir,
                $"-p:PackageVersion={Version}", "-nodeReuse:false"], TestPaths.RepoRoot);
            var packages = Directory.GetFiles(PackageDir, "*.nupkg").Select(Path.GetFileName).ToHashSet();
            foreach (var id in new[] { "WfVae.Runtime", "WfVae.Operators", "WfVae.Model", "WfVae.Streaming", "WfVae.Media", "wfvae" })
                Assert.Contains($"{id}.{Version}.nupkg", packages);
        }

        public void Dotnet(string[] args, string workingDirectory)
        {
            var run = NativePluginBuild.Run(DotnetHost, args, TimeSpan.FromMinutes(10), workingDirectory, _environment);
            Assert.True(run.Exit == 0, $"dotnet {string.Join(' ', args)} exited with {run.Exit}:\n{run.Output}");
        }
    }
}

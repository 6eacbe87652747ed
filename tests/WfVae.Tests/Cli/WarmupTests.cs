using System.Diagnostics;
using WfVae.Model;
using WfVae.Runtime;
using Xunit;

namespace WfVae.Tests.Cli;

/// <summary>
/// `wfvae warmup` (issue #11, cold start): it fills the persistent pipeline cache with every pipeline encode and
/// decode use, a later device starts from that cache, sessions compile their first push's pipelines up front, the
/// results do not depend on any of it, and without a default model it fails exactly as encode does.
/// </summary>
public sealed class WarmupTests(WarmupTests.Warmed warmed) : IClassFixture<WarmupTests.Warmed>, IDisposable
{
    private const int H = 16, W = 24;
    private readonly string _dir = Directory.CreateTempSubdirectory("wfvae-warmup-").FullName;
    private static string Tiny => Path.Combine(TestPaths.Golden("tiny"), "model.safetensors");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>
    /// One `wfvae warmup` of the tiny model into a cache folder of its own, shared by the tests that start from a
    /// warmed cache: a cold warmup compiles every pipeline, the slowest step here, and both would run the same one.
    /// </summary>
    public sealed class Warmed : IDisposable
    {
        private readonly string _dir = Directory.CreateTempSubdirectory("wfvae-warmup-shared-").FullName;
        public (int Code, string Out, string Err) Result { get; }
        public string CacheFolder => Path.Combine(_dir, "cache", "wfvae");

        public Warmed() => Result = RunIn(_dir, AppContext.BaseDirectory, "warmup", "--model", Tiny, "--height", $"{H}", "--width", $"{W}");

        public void Dispose() => Directory.Delete(_dir, recursive: true);
    }

    private (int Code, string Out, string Err) Run(string home, params string[] args) => RunIn(_dir, home, args);

    /// <summary>Runs the CLI as a process from <paramref name="home"/> in <paramref name="dir"/>, with its own cache folder there (XDG_CACHE_HOME).</summary>
    private static (int Code, string Out, string Err) RunIn(string dir, string home, params string[] args)
    {
        var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = dir,
        };
        psi.ArgumentList.Add(Path.Combine(home, "wfvae.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["WFVAE_VALIDATION"] = "0";
        psi.Environment["XDG_CACHE_HOME"] = Path.Combine(dir, "cache");
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(5)), "wfvae did not end");
        return (p.ExitCode, stdout.GetAwaiter().GetResult(), stderr.GetAwaiter().GetResult());
    }

    /// <summary>Checks the shared warmup's output and cache, and returns this test's own copy of the cache file.</summary>
    private string WarmedCache()
    {
        var (code, stdout, stderr) = warmed.Result;
        Assert.True(code == 0, stderr);
        var line = Assert.Single(stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Matches(@"^warmup: [1-9]\d* pipelines for 24x16 frames \([1-9]\d* compiled in parallel\) in \d+\.\d s", line);
        var cache = Assert.Single(Directory.GetFiles(warmed.CacheFolder, "pipelines-*.bin"));
        // A copy: a device rewrites its cache file when it closes, and each test starts from the warmup's own.
        var own = Path.Combine(_dir, "cache", "wfvae", Path.GetFileName(cache));
        Directory.CreateDirectory(Path.GetDirectoryName(own)!);
        File.Copy(cache, own);
        return own;
    }

    [Fact]
    public void WarmupFillsTheCacheThatTheNextDeviceStartsFrom()
    {
        string cache = WarmedCache();
        var blob = File.ReadAllBytes(cache);
        // VkPipelineCacheHeaderVersionOne: header length (16 + UUID), version 1, then the device's vendor and id.
        Assert.True(blob.Length >= 32, $"{blob.Length} bytes");
        Assert.Equal(32u, BitConverter.ToUInt32(blob, 0));
        Assert.Equal(1u, BitConverter.ToUInt32(blob, 4));

        using var device = VulkanDevice.Create(new DeviceOptions { PipelineCachePath = cache });
        Assert.Equal(blob.Length, device.Pipelines.LoadedCacheBytes);
        using var model = WfVaeModel.Load(Tiny, device);
        using var s = model.OpenEncoder(H, W);
        s.Push(new float[3 * H * W], 1);
        // Every pipeline of the first push was named by its dry run and compiled before it, none on the way.
        Assert.True(device.Pipelines.Built > 0);
        Assert.Equal(0, device.Pipelines.BuiltAtDispatch);
        Assert.Equal(device.Pipelines.Count, device.Pipelines.Built);
    }

    [Fact]
    public void StreamedOutputIsBitIdenticalWithAndWithoutWarmup()
    {
        string cache = WarmedCache();
        var rng = new Random(11);
        var clip = Enumerable.Range(0, 9 * 3 * H * W).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var warm = Stream(new DeviceOptions { PipelineCachePath = cache }, clip);
        var cold = Stream(new DeviceOptions { PipelineCachePath = "", ParallelCompile = false }, clip);
        Assert.Equal(cold.Latents, warm.Latents);
        Assert.Equal(cold.Video, warm.Video);
    }

    /// <summary>
    /// On lavapipe (the CI device), which compiles a shader at its first dispatch, a session's dry run hands every shader of the first
    /// push to one compile queue per core (the device's own and extra devices) before the push runs; switched off, none.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void FirstPushShadersAreCompiledAheadOnEveryCore(bool parallel)
    {
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var device = VulkanDevice.Create(new DeviceOptions { PipelineCachePath = "", ParallelCompile = parallel, Verbose = true, Log = log.Enqueue });
        bool compilesAtFirstDispatch = device.Info.Kind == DeviceKind.Cpu && device.Info.Name.StartsWith("llvmpipe", StringComparison.Ordinal);
        using var model = WfVaeModel.Load(Tiny, device);
        using (var s = model.OpenEncoder(H, W))
            s.Push(new float[3 * H * W], 1);
        var lines = log.Select(l => System.Text.RegularExpressions.Regex.Match(l, @"compiled (\d+) shaders before the first push on (\d+) queue")).Where(m => m.Success).ToList();
        if (!parallel || !compilesAtFirstDispatch) // GPU drivers compile in vkCreateComputePipelines: nothing to do ahead
        {
            Assert.Empty(lines);
            return;
        }
        var m = Assert.Single(lines);
        Assert.Equal(device.Pipelines.Count, int.Parse(m.Groups[1].Value));
        Assert.Equal(Math.Min(Environment.ProcessorCount, device.Pipelines.Count), int.Parse(m.Groups[2].Value));
        Assert.Equal(0, device.Pipelines.BuiltAtDispatch);
    }

    [Theory]
    [InlineData("0", false)]
    [InlineData("off", false)]
    [InlineData("1", true)]
    [InlineData(null, null)]
    public void ParallelCompileFollowsItsVariableUnlessSetInCode(string? value, bool? expected)
    {
        string? Env(string name) => name == DeviceOptions.ParallelCompileVariable ? value : null;
        Assert.Equal(expected, new DeviceOptions().WithEnvironment(Env).ParallelCompile);
        Assert.True(new DeviceOptions { ParallelCompile = true }.WithEnvironment(Env).ParallelCompile);
        Assert.Contains(DeviceOptions.ParallelCompileVariable,
            Assert.Throws<ArgumentException>(() => new DeviceOptions().WithEnvironment(n => n == DeviceOptions.ParallelCompileVariable ? "maybe" : null)).Message);
    }

    /// <summary>Encodes <paramref name="clip"/> in pushes of 1, 4, 4 frames and decodes the means latent by latent.</summary>
    private static (float[] Latents, float[] Video) Stream(DeviceOptions options, float[] clip)
    {
        using var device = VulkanDevice.Create(options);
        using var model = WfVaeModel.Load(Tiny, device);
        var latents = new List<float>();
        using (var e = model.OpenEncoder(H, W))
            foreach (var (start, count) in new[] { (0, 1), (1, 4), (5, 4) })
                latents.AddRange(e.Push(clip.AsSpan(start * 3 * H * W, count * 3 * H * W), count).Mean);
        int lh = H / 8, lw = W / 8, frame = model.Config.LatentDim * lh * lw;
        var video = new List<float>();
        using (var d = model.OpenDecoder(lh, lw))
        {
            for (int i = 0; i < latents.Count / frame; i++)
                video.AddRange(d.Push(latents.ToArray().AsSpan(i * frame, frame), 1, last: false).Data);
            video.AddRange(d.Flush().Data);
        }
        return (latents.ToArray(), video.ToArray());
    }

    [Theory]
    [InlineData("encode", "out.wfl")]
    [InlineData("recon", "out.rgb")]
    public void EveryVerbThatLoadsTheModelLeavesTheCacheForTheNextRun(string verb, string output)
    {
        string input = Path.Combine(_dir, "in.rgb");
        File.WriteAllBytes(input, new byte[5 * H * W * 3]);
        var (code, _, stderr) = Run(AppContext.BaseDirectory, verb, "--model", Tiny, "--raw", $"{W}x{H}@8", input, Path.Combine(_dir, output));
        Assert.True(code == 0, stderr);
        string cache = Assert.Single(Directory.GetFiles(Path.Combine(_dir, "cache", "wfvae"), "pipelines-*.bin"));
        using var device = VulkanDevice.Create(new DeviceOptions { PipelineCachePath = cache });
        Assert.Equal(new FileInfo(cache).Length, device.Pipelines.LoadedCacheBytes);
    }

    [Fact]
    public void WithoutADefaultModelWarmupFailsAsEncodeDoes()
    {
        // A copy of the tools with no default-model folder beside them, run outside the repository.
        string home = Path.Combine(_dir, "tools");
        Directory.CreateDirectory(home);
        foreach (var f in Directory.GetFiles(AppContext.BaseDirectory)) File.Copy(f, Path.Combine(home, Path.GetFileName(f)));
        string input = Path.Combine(_dir, "in.rgb");
        File.WriteAllBytes(input, new byte[5 * 16 * 16 * 3]);
        var encode = Run(home, "encode", "--raw", "16x16@8", input, Path.Combine(_dir, "out.wfl"));
        var warmup = Run(home, "warmup");
        Assert.Equal(1, encode.Code);
        Assert.Equal(1, warmup.Code);
        Assert.Contains("shipped default model is not installed", warmup.Err);
        Assert.Equal(encode.Err.Replace("wfvae encode:", "wfvae warmup:"), warmup.Err);
        Assert.Empty(warmup.Out);
    }
}

using WfVae.Runtime;
using Xunit;

// How the suite runs in parallel (docs/architecture.md, "Tests in parallel", has the measurements):
// - Every collection below owns one GpuFixture, so one Vulkan device of its own. The tests of a collection run one
//   at a time on it, which keeps the device's memory accounting, pipeline counts and validation messages theirs
//   alone; different collections run at the same time on different devices.
// - A test class without a [Collection] is its own collection (xunit's default) and runs in parallel with the rest;
//   the CLI, tool and frei0r tests are such classes: they open their own devices, in-process or in child processes.
//   The plugin builds they share are made once (Lazy), and NativePluginBuild.Publish runs one publish at a time.
// - maxParallelThreads (xunit.runner.json) is twice the core count: most tests spend much of their time on one core
//   (process start-up, JIT, LLVM compiling a pipeline, a C compiler, a publish), so two per core keep both busy.

namespace WfVae.Tests;

/// <summary>
/// One Vulkan device per test collection (lavapipe in CI), plus one per set of kernel options a test forces
/// (<see cref="With"/>): options are per device, so no test changes what another sees. Validation layers are on in
/// Debug builds when installed; every GPU test ends with <see cref="AssertClean"/>.
/// </summary>
public sealed class GpuFixture : IDisposable
{
    private readonly Lazy<VulkanDevice> _shared = new(() => Open(new KernelOptions()), LazyThreadSafetyMode.ExecutionAndPublication);
    private readonly Dictionary<KernelOptions, VulkanDevice> _forced = new();

    public VulkanDevice Device => _shared.Value;

    /// <summary>A device whose kernel choices are forced to <paramref name="kernels"/> (created once per collection).</summary>
    public VulkanDevice With(KernelOptions kernels)
    {
        if (kernels == new KernelOptions()) return Device;
        lock (_forced)
        {
            if (!_forced.TryGetValue(kernels, out var d)) _forced[kernels] = d = Open(kernels);
            return d;
        }
    }

    /// <summary>A device whose tiled kernels always run <paramref name="variant"/>.</summary>
    public VulkanDevice With(KernelVariant variant) => With(new KernelOptions { Variant = variant });

    private static VulkanDevice Open(KernelOptions kernels) =>
        VulkanDevice.Create(new DeviceOptions { PipelineCachePath = "", Kernels = kernels });

    public void AssertClean()
    {
        var errors = new[] { Device }.Concat(ForcedDevices()).SelectMany(d => d.ValidationErrors).ToList();
        if (errors.Count > 0)
            Assert.Fail("Vulkan validation errors:\n" + string.Join("\n", errors));
    }

    private List<VulkanDevice> ForcedDevices()
    {
        lock (_forced) return _forced.Values.ToList();
    }

    // The devices live until the test process ends, as before: disposing one runs its pipeline-cache and
    // memory-pool teardown, which no test here is about.
    public void Dispose() { }
}

/// <summary>The collections that share a device; each has its own (see the top of this file).</summary>
public static class Gpu
{
    /// <summary>Operators and the runtime: kernels, variants, devices, memory accounting of one device.</summary>
    public const string Ops = "gpu-ops";
    /// <summary>Whole models against the golden tensors and the CPU reference.</summary>
    public const string Golden = "gpu-golden";
    /// <summary>Streaming sessions: chunking, concurrency, memory plans, stream ends.</summary>
    public const string Stream = "gpu-stream";
    /// <summary>The demo, the packages and CLI tests that compare with an engine run on the shared device.</summary>
    public const string Apps = "gpu-apps";
    /// <summary>The NativeAOT C plugin: its build, its C drivers and the engine it runs against.</summary>
    public const string Native = "native-plugin";
}

[CollectionDefinition(Gpu.Ops)]
public sealed class GpuOpsCollection : ICollectionFixture<GpuFixture> { }

[CollectionDefinition(Gpu.Golden)]
public sealed class GpuGoldenCollection : ICollectionFixture<GpuFixture> { }

[CollectionDefinition(Gpu.Stream)]
public sealed class GpuStreamCollection : ICollectionFixture<GpuFixture> { }

[CollectionDefinition(Gpu.Apps)]
public sealed class GpuAppsCollection : ICollectionFixture<GpuFixture> { }

[CollectionDefinition(Gpu.Native)]
public sealed class NativePluginCollection : ICollectionFixture<GpuFixture> { }

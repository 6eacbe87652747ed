using WfVae.Runtime;
using Xunit;

// Tests in the "gpu" collection run one at a time (lavapipe already uses every core); every other test class is
// its own collection and runs in parallel with the rest (xunit's default).

namespace WfVae.Tests;

/// <summary>
/// One Vulkan device for the whole test run (lavapipe in CI), plus one per set of kernel options a test forces
/// (<see cref="With"/>): options are per device, so no test changes what another sees. Validation layers are on in
/// Debug builds when installed; every GPU test ends with <see cref="AssertClean"/>.
/// </summary>
public sealed class GpuFixture : IDisposable
{
    private static readonly Lazy<VulkanDevice> Shared = new(() => Open(new KernelOptions()));
    private static readonly Dictionary<KernelOptions, VulkanDevice> Forced = new();

    public VulkanDevice Device => Shared.Value;

    /// <summary>A device whose kernel choices are forced to <paramref name="kernels"/> (created once per run).</summary>
    public VulkanDevice With(KernelOptions kernels)
    {
        if (kernels == new KernelOptions()) return Device;
        lock (Forced)
        {
            if (!Forced.TryGetValue(kernels, out var d)) Forced[kernels] = d = Open(kernels);
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

    private static List<VulkanDevice> ForcedDevices()
    {
        lock (Forced) return Forced.Values.ToList();
    }

    public void Dispose() { }
}

[CollectionDefinition("gpu")]
public sealed class GpuCollection : ICollectionFixture<GpuFixture> { }

using WfVae.Runtime;
using Xunit;

// Vulkan queues are not thread-safe and lavapipe already uses every core: GPU tests run one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace WfVae.Tests;

/// <summary>
/// One Vulkan device for the whole test run (lavapipe in CI). Validation layers are on in Debug builds
/// when installed; every GPU test ends with <see cref="AssertClean"/>.
/// </summary>
public sealed class GpuFixture : IDisposable
{
    private static readonly Lazy<VulkanDevice> Shared = new(() => VulkanDevice.Create(new DeviceOptions { PipelineCachePath = "" }));

    public VulkanDevice Device => Shared.Value;

    public void AssertClean()
    {
        if (Device.ValidationErrors.Count > 0)
            Assert.Fail("Vulkan validation errors:\n" + string.Join("\n", Device.ValidationErrors));
    }

    public void Dispose() { }
}

[CollectionDefinition("gpu")]
public sealed class GpuCollection : ICollectionFixture<GpuFixture> { }

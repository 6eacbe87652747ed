using Silk.NET.Vulkan;

namespace WfVae.Runtime;

public enum DeviceKind { DiscreteGpu, IntegratedGpu, VirtualGpu, Cpu, Other }

/// <summary>What the engine needs to know about one physical device, read once at enumeration.</summary>
public sealed record PhysicalDeviceInfo(
    int Index,
    string Name,
    DeviceKind Kind,
    uint VendorId,
    uint DeviceId,
    string ApiVersion,
    string Driver,
    ulong DeviceLocalBytes,
    bool UnifiedMemory,
    ulong MaxStorageBufferRange,
    uint MaxSharedMemoryBytes,
    uint SubgroupSize,
    bool ShaderFloat16,
    bool Storage16Bit,
    double TimestampPeriodNs,
    bool TimestampsSupported)
{
    /// <summary>Largest single VkDeviceMemory allocation (maxMemoryAllocationSize); unknown: no limit beyond the buffer range.</summary>
    public ulong MaxMemoryAllocationBytes { get; init; } = ulong.MaxValue;
    /// <summary>A device-local memory type the host reads cached exists: tensors are mapped, not copied through staging.</summary>
    public bool HostCachedDeviceMemory { get; init; }
    /// <summary>Meaningful low bits of a timestamp of the compute queue (the counter wraps past them); 0 = no timestamps.</summary>
    public int TimestampValidBits { get; init; } = 64;
    /// <summary>Shaders may read memory through device addresses (Vulkan 1.2 bufferDeviceAddress).</summary>
    public bool BufferDeviceAddress { get; init; }
    /// <summary>Cooperative-matrix extensions, features and shapes the device offers (issue #6).</summary>
    public CooperativeMatrixOffer CooperativeMatrix { get; init; } = CooperativeMatrixOffer.None;

    /// <summary>The Mesa release of a Mesa driver (<see cref="ParseMesaVersion"/> of <see cref="Driver"/>); null for others.</summary>
    public Version? MesaVersion { get; init; }
    /// <summary>maxComputeWorkGroupInvocations: invocations one workgroup may have.</summary>
    public uint MaxWorkgroupInvocations { get; init; } = 1024;
    /// <summary>maxComputeWorkGroupSize[0]: the x size of a workgroup at most (the engine's kernels are one-dimensional in x).</summary>
    public uint MaxWorkgroupSizeX { get; init; } = 1024;

    /// <summary>Invocations per workgroup the engine's fixed kernels use (norms, elementwise, GPU conv tiles): 256.</summary>
    public const uint RequiredWorkgroupInvocations = 256;

    /// <summary>Why the engine cannot run on this device, or null. Vulkan guarantees only 128 invocations per workgroup.</summary>
    public string? Shortfall => MaxWorkgroupInvocations < RequiredWorkgroupInvocations || MaxWorkgroupSizeX < RequiredWorkgroupInvocations
        ? $"{Name} allows {Math.Min(MaxWorkgroupInvocations, MaxWorkgroupSizeX)} invocations per compute workgroup; the engine's kernels use {RequiredWorkgroupInvocations}"
        : null;

    /// <summary>"llvmpipe Mesa 25.0.7 (LLVM 15.0.6)" gives 25.0.7, "radv Mesa 24.2" 24.2.0; null without "Mesa x.y".</summary>
    public static Version? ParseMesaVersion(string driver) =>
        System.Text.RegularExpressions.Regex.Match(driver, @"\bMesa (\d+)\.(\d+)(?:\.(\d+))?") is { Success: true } m
            ? new Version(int.Parse(m.Groups[1].Value), int.Parse(m.Groups[2].Value), m.Groups[3].Success ? int.Parse(m.Groups[3].Value) : 0)
            : null;

    public string Vendor => VendorId switch
    {
        0x10DE => "NVIDIA",
        0x1002 => "AMD",
        0x8086 => "Intel",
        0x13B5 => "ARM",
        0x5143 => "Qualcomm",
        0x106B => "Apple",
        0x10005 => "Mesa",
        _ => $"0x{VendorId:X}",
    };

    /// <summary>Default preference: discrete GPU, then integrated, virtual, CPU; a device the engine cannot run on last.</summary>
    internal int Rank => (Shortfall != null ? 10 : 0) + Kind switch
    {
        DeviceKind.DiscreteGpu => 0,
        DeviceKind.IntegratedGpu => 1,
        DeviceKind.VirtualGpu => 2,
        DeviceKind.Cpu => 3,
        _ => 4,
    };

    public override string ToString() =>
        $"[{Index}] {Name} ({Kind}, {Vendor}, Vulkan {ApiVersion}, {Driver}, {DeviceLocalBytes / (1024.0 * 1024 * 1024):F1} GiB)";

    internal static DeviceKind KindOf(PhysicalDeviceType t) => t switch
    {
        PhysicalDeviceType.DiscreteGpu => DeviceKind.DiscreteGpu,
        PhysicalDeviceType.IntegratedGpu => DeviceKind.IntegratedGpu,
        PhysicalDeviceType.VirtualGpu => DeviceKind.VirtualGpu,
        PhysicalDeviceType.Cpu => DeviceKind.Cpu,
        _ => DeviceKind.Other,
    };
}

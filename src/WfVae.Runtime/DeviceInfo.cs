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
    /// <summary>Cooperative-matrix extensions, features and shapes the device offers (issue #6).</summary>
    public CooperativeMatrixOffer CooperativeMatrix { get; init; } = CooperativeMatrixOffer.None;

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

    /// <summary>Default preference: discrete GPU, then integrated, virtual, CPU.</summary>
    internal int Rank => Kind switch
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

/// <summary>How to choose and configure the device.</summary>
public sealed record DeviceOptions
{
    /// <summary>Environment variable that selects a device by index or name substring.</summary>
    public const string SelectorVariable = "WFVAE_DEVICE";
    /// <summary>Environment variable that enables validation layers ("1") or disables them ("0").</summary>
    public const string ValidationVariable = "WFVAE_VALIDATION";

    /// <summary>Index (as listed by <c>wfvae devices</c>) or a case-insensitive name substring; null = environment, then default rank.</summary>
    public string? Selector { get; init; }
    /// <summary>Enable VK_LAYER_KHRONOS_validation when installed. Null = environment variable, else on in Debug builds.</summary>
    public bool? Validation { get; init; }
    /// <summary>Where the persistent pipeline cache lives; null = the user's cache folder, "" = none.</summary>
    public string? PipelineCachePath { get; init; }
    /// <summary>Cooperative-matrix path allowed (tests, diagnosis); null = the WFVAE_COOPMAT environment variable, else auto.</summary>
    public CooperativeMatrixSetting? CooperativeMatrix { get; init; }
    /// <summary>Bytes per memory block (capped by the device's storage-buffer range).</summary>
    public ulong BlockBytes { get; init; } = 256UL << 20;

    public static DeviceOptions Default { get; } = new();
}

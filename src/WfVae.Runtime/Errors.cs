using Silk.NET.Vulkan;

namespace WfVae.Runtime;

/// <summary>A Vulkan call failed; the message names the call and the result code.</summary>
public class VulkanException : Exception
{
    public Result Result { get; }
    public VulkanException(string message, Result result = Result.ErrorUnknown) : base(message) => Result = result;
}

/// <summary>The device was lost (driver reset, hang, removal). Everything on it is gone.</summary>
public sealed class DeviceLostException : VulkanException
{
    public DeviceLostException(string call)
        : base($"Vulkan device lost during {call}: the GPU was reset or removed; recreate the device.", Result.ErrorDeviceLost) { }
}

/// <summary>No Vulkan loader, no physical device, or no device matching the selection.</summary>
public sealed class NoVulkanDeviceException : Exception
{
    public NoVulkanDeviceException(string message) : base(message) { }
}

internal static class VkCheck
{
    public static void Check(this Result result, string call)
    {
        if (result == Result.Success) return;
        if (result == Result.ErrorDeviceLost) throw new DeviceLostException(call);
        throw new VulkanException($"{call} failed: {result}", result);
    }
}

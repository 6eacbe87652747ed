using System.Runtime.InteropServices;
using Silk.NET.Core.Native;
using Silk.NET.Vulkan;

namespace WfVae.Runtime;

/// <summary>
/// Collects validation-layer messages through VK_EXT_debug_utils. The extension's entry points are
/// fetched by name because the registry here has no Silk.NET extension packages.
/// </summary>
internal sealed unsafe class DebugMessenger : IDisposable
{
    private static readonly List<string> Sink = new();
    private static readonly object Gate = new();
    private readonly Vk _vk;
    private readonly Instance _instance;
    private readonly DebugUtilsMessengerEXT _handle;
    private readonly int _start;

    public IReadOnlyList<string> Errors
    {
        get { lock (Gate) return Sink.Skip(_start).ToList(); }
    }

    private DebugMessenger(Vk vk, Instance instance, DebugUtilsMessengerEXT handle)
    {
        _vk = vk;
        _instance = instance;
        _handle = handle;
        lock (Gate) _start = Sink.Count;
    }

    public static DebugMessenger? TryCreate(Vk vk, Instance instance)
    {
        var create = (delegate* unmanaged<Instance, DebugUtilsMessengerCreateInfoEXT*, AllocationCallbacks*, DebugUtilsMessengerEXT*, Result>)
            vk.GetInstanceProcAddr(instance, "vkCreateDebugUtilsMessengerEXT").Handle;
        if (create == null) return null;
        var info = new DebugUtilsMessengerCreateInfoEXT
        {
            SType = StructureType.DebugUtilsMessengerCreateInfoExt,
            MessageSeverity = DebugUtilsMessageSeverityFlagsEXT.ErrorBitExt | DebugUtilsMessageSeverityFlagsEXT.WarningBitExt,
            MessageType = DebugUtilsMessageTypeFlagsEXT.GeneralBitExt | DebugUtilsMessageTypeFlagsEXT.ValidationBitExt | DebugUtilsMessageTypeFlagsEXT.PerformanceBitExt,
            PfnUserCallback = new PfnDebugUtilsMessengerCallbackEXT((delegate* unmanaged[Cdecl]<DebugUtilsMessageSeverityFlagsEXT, DebugUtilsMessageTypeFlagsEXT, DebugUtilsMessengerCallbackDataEXT*, void*, Silk.NET.Core.Bool32>)(void*)(delegate* unmanaged<DebugUtilsMessageSeverityFlagsEXT, DebugUtilsMessageTypeFlagsEXT, DebugUtilsMessengerCallbackDataEXT*, void*, uint>)&OnMessage),
        };
        DebugUtilsMessengerEXT handle;
        if (create(instance, &info, null, &handle) != Result.Success) return null;
        return new DebugMessenger(vk, instance, handle);
    }

    [UnmanagedCallersOnly]
    private static uint OnMessage(DebugUtilsMessageSeverityFlagsEXT severity, DebugUtilsMessageTypeFlagsEXT type, DebugUtilsMessengerCallbackDataEXT* data, void* user)
    {
        var text = SilkMarshal.PtrToString((nint)data->PMessage) ?? "";
        bool error = (severity & DebugUtilsMessageSeverityFlagsEXT.ErrorBitExt) != 0;
        Console.Error.WriteLine($"[vulkan {(error ? "error" : "warning")}] {text}");
        if (error)
            lock (Gate) Sink.Add(text);
        return 0; // VK_FALSE: never abort the call
    }

    public void Dispose()
    {
        var destroy = (delegate* unmanaged<Instance, DebugUtilsMessengerEXT, AllocationCallbacks*, void>)
            _vk.GetInstanceProcAddr(_instance, "vkDestroyDebugUtilsMessengerEXT").Handle;
        if (destroy != null) destroy(_instance, _handle, null);
    }
}

using System.Runtime.InteropServices;
using Silk.NET.Core.Native;
using Silk.NET.Vulkan;

namespace WfVae.Runtime;

/// <summary>
/// Collects validation-layer messages through VK_EXT_debug_utils: errors are kept per device (tests assert there are
/// none) and every message goes to the device's log sink. The extension's entry points are fetched by name because
/// the registry here has no Silk.NET extension packages.
/// </summary>
internal sealed unsafe class DebugMessenger : IDisposable
{
    private readonly List<string> _errors = new();
    private readonly Action<string>? _log;
    private readonly Vk _vk;
    private readonly Instance _instance;
    private DebugUtilsMessengerEXT _handle;
    private GCHandle _self;

    public IReadOnlyList<string> Errors
    {
        get { lock (_errors) return _errors.ToList(); }
    }

    private DebugMessenger(Vk vk, Instance instance, Action<string>? log)
    {
        _vk = vk;
        _instance = instance;
        _log = log;
        _self = GCHandle.Alloc(this);
    }

    public static DebugMessenger? TryCreate(Vk vk, Instance instance, Action<string>? log)
    {
        var create = (delegate* unmanaged<Instance, DebugUtilsMessengerCreateInfoEXT*, AllocationCallbacks*, DebugUtilsMessengerEXT*, Result>)
            vk.GetInstanceProcAddr(instance, "vkCreateDebugUtilsMessengerEXT").Handle;
        if (create == null) return null;
        var messenger = new DebugMessenger(vk, instance, log);
        var info = new DebugUtilsMessengerCreateInfoEXT
        {
            SType = StructureType.DebugUtilsMessengerCreateInfoExt,
            MessageSeverity = DebugUtilsMessageSeverityFlagsEXT.ErrorBitExt | DebugUtilsMessageSeverityFlagsEXT.WarningBitExt,
            MessageType = DebugUtilsMessageTypeFlagsEXT.GeneralBitExt | DebugUtilsMessageTypeFlagsEXT.ValidationBitExt | DebugUtilsMessageTypeFlagsEXT.PerformanceBitExt,
            PfnUserCallback = new PfnDebugUtilsMessengerCallbackEXT((delegate* unmanaged[Cdecl]<DebugUtilsMessageSeverityFlagsEXT, DebugUtilsMessageTypeFlagsEXT, DebugUtilsMessengerCallbackDataEXT*, void*, Silk.NET.Core.Bool32>)(void*)(delegate* unmanaged<DebugUtilsMessageSeverityFlagsEXT, DebugUtilsMessageTypeFlagsEXT, DebugUtilsMessengerCallbackDataEXT*, void*, uint>)&OnMessage),
            PUserData = (void*)GCHandle.ToIntPtr(messenger._self),
        };
        DebugUtilsMessengerEXT handle;
        if (create(instance, &info, null, &handle) != Result.Success)
        {
            messenger._self.Free();
            return null;
        }
        messenger._handle = handle;
        return messenger;
    }

    [UnmanagedCallersOnly]
    private static uint OnMessage(DebugUtilsMessageSeverityFlagsEXT severity, DebugUtilsMessageTypeFlagsEXT type, DebugUtilsMessengerCallbackDataEXT* data, void* user)
    {
        if (GCHandle.FromIntPtr((nint)user).Target is not DebugMessenger self) return 0;
        var text = SilkMarshal.PtrToString((nint)data->PMessage) ?? "";
        bool error = (severity & DebugUtilsMessageSeverityFlagsEXT.ErrorBitExt) != 0;
        if (error)
            lock (self._errors) self._errors.Add(text);
        self._log?.Invoke($"[vulkan {(error ? "error" : "warning")}] {text}");
        return 0; // VK_FALSE: never abort the call
    }

    public void Dispose()
    {
        var destroy = (delegate* unmanaged<Instance, DebugUtilsMessengerEXT, AllocationCallbacks*, void>)
            _vk.GetInstanceProcAddr(_instance, "vkDestroyDebugUtilsMessengerEXT").Handle;
        if (destroy != null) destroy(_instance, _handle, null);
        if (_self.IsAllocated) _self.Free();
    }
}

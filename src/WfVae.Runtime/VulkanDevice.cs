using System.Runtime.InteropServices;
using Silk.NET.Core;
using Silk.NET.Core.Native;
using Silk.NET.Vulkan;

namespace WfVae.Runtime;

/// <summary>
/// One Vulkan device with a compute queue: the instance, the chosen physical device, the memory pool,
/// the pipeline library and the queue. Everything the engine allocates on the GPU hangs off it.
/// Thread-safe for what sessions do: any number of threads may allocate, record (each with its own
/// <see cref="CommandRecorder"/>, which owns its command pool) and submit at once; submissions to the one queue are
/// serialised here. A recorder itself is used by one thread at a time.
/// </summary>
public sealed unsafe partial class VulkanDevice : IDisposable
{
    internal readonly Vk Vk;
    internal readonly Instance Instance;
    internal readonly PhysicalDevice Physical;
    internal readonly Device Handle;
    internal readonly Queue Queue;
    internal readonly uint QueueFamily;
    private readonly object _queueLock = new();
    internal readonly PhysicalDeviceMemoryProperties MemoryProperties;
    private readonly DebugMessenger? _debug;
    private bool _disposed;

    public PhysicalDeviceInfo Info { get; }
    /// <summary>The options this device runs with: what the caller set, the rest from the environment (read once, at creation).</summary>
    public DeviceOptions Options { get; }
    public DeviceMemoryPool Memory { get; }
    public PipelineLibrary Pipelines { get; }
    /// <summary>True when validation layers are active for this device.</summary>
    public bool ValidationEnabled => _debug != null;
    /// <summary>Validation errors reported so far (empty without validation).</summary>
    public IReadOnlyList<string> ValidationErrors => _debug?.Errors ?? (IReadOnlyList<string>)Array.Empty<string>();
    public bool Float16Enabled { get; }
    /// <summary>Cooperative-matrix path of this device (enabled extension, self-check outcome, reasons).</summary>
    public CooperativeMatrixState CooperativeMatrix { get; }
    /// <summary>
    /// bufferDeviceAddress is enabled and every memory block has an address (<see cref="GpuTensor.BlockAddress"/>): on CPU
    /// drivers that offer it, unless <see cref="KernelOptions.AddressLoads"/> is false, and wherever that option is true.
    /// </summary>
    public bool DeviceAddresses { get; }

    private VulkanDevice(Vk vk, Instance instance, DebugMessenger? debug, PhysicalDevice physical, PhysicalDeviceInfo info, DeviceOptions options)
    {
        Vk = vk;
        Instance = instance;
        _debug = debug;
        Physical = physical;
        Info = info;
        Options = options;
        vk.GetPhysicalDeviceMemoryProperties(physical, out MemoryProperties);

        QueueFamily = FindComputeQueueFamily(vk, physical);
        // Cooperative matrices (issue #6): every extension the device offers with a usable shape and the setting
        // allows is enabled; the operator library settles which one its kernels use at first use (Resolve). If device
        // creation fails with them, the preferred one alone is tried, then none.
        var setting = options.CooperativeMatrix ?? CooperativeMatrixSetting.Auto;
        var plan = CooperativeMatrixPlan.Create(info.CooperativeMatrix, CooperativeMatrixBuild.Unknown, setting);
        var enabled = plan.Usable;
        DeviceAddresses = WantsDeviceAddresses(info, options);
        var r = CreateLogicalDevice(vk, physical, info, QueueFamily, enabled, DeviceAddresses, out Handle);
        string? note = null;
        if (r != Result.Success && enabled.Count > 1)
        {
            note = $"vkCreateDevice with {string.Join(" and ", enabled.Select(ExtensionName))} failed ({r})";
            enabled = [enabled[0]];
            r = CreateLogicalDevice(vk, physical, info, QueueFamily, enabled, DeviceAddresses, out Handle);
        }
        if (r != Result.Success && enabled.Count > 0)
        {
            note = $"vkCreateDevice with {ExtensionName(enabled[0])} failed ({r}); scalar kernels used";
            enabled = [];
            r = CreateLogicalDevice(vk, physical, info, QueueFamily, enabled, DeviceAddresses, out Handle);
        }
        CooperativeMatrix = new CooperativeMatrixState(plan, enabled, info.CooperativeMatrix, setting, note);
        r.Check("vkCreateDevice");
        Float16Enabled = Version.Parse(info.ApiVersion) >= new Version(1, 2) && info.ShaderFloat16 && info.Storage16Bit;
        vk.GetDeviceQueue(Handle, QueueFamily, 0, out Queue);

        Memory = new DeviceMemoryPool(this, Math.Min(options.BlockBytes, info.MaxStorageBufferRange),
            Math.Min(info.MaxStorageBufferRange, info.MaxMemoryAllocationBytes), mapDeviceMemory: options.StagedTransfers != true);
        Pipelines = new PipelineLibrary(this, ResolveCachePath(options, info));
        Memory.BlockReleased += Pipelines.ForgetBuffer;
    }

    // Only the CPU-driver kernels read through addresses, so GPUs keep the plain buffers unless the option asks.
    private static bool WantsDeviceAddresses(PhysicalDeviceInfo info, DeviceOptions options)
    {
        bool? wanted = options.Kernels.AddressLoads;
        if (wanted == true && !info.BufferDeviceAddress)
            throw new ArgumentException($"address loads were asked for (KernelOptions.AddressLoads, {DeviceOptions.AddressLoadsVariable}=1) but {info.Name} does not offer bufferDeviceAddress (Vulkan 1.2)");
        return info.BufferDeviceAddress && (wanted ?? info.Kind == DeviceKind.Cpu);
    }

    /// <summary>Lists every Vulkan physical device on this machine.</summary>
    public static IReadOnlyList<PhysicalDeviceInfo> Enumerate()
    {
        var (vk, instance, debug) = CreateInstance(validation: false, log: null);
        try
        {
            return EnumerateDevices(vk, instance).Select(d => d.Info).ToList();
        }
        finally
        {
            vk.DestroyInstance(instance, null);
        }
    }

    /// <summary>
    /// Creates the device chosen by <paramref name="options"/> (selector, then WFVAE_DEVICE, then discrete > integrated >
    /// virtual > CPU); options left unset take their WFVAE_* environment variables (<see cref="DeviceOptions.WithEnvironment"/>).
    /// </summary>
    public static VulkanDevice Create(DeviceOptions? options = null)
    {
        options = (options ?? DeviceOptions.Default).WithEnvironment();
#if DEBUG
        bool validation = options.Validation ?? true;
#else
        bool validation = options.Validation ?? false;
#endif
        var (vk, instance, debug) = CreateInstance(validation, options.Log);
        try
        {
            var devices = EnumerateDevices(vk, instance);
            var chosen = Select(devices.Select(d => d.Info).ToList(), options.Selector);
            if (chosen.Shortfall is { } why) throw new NoVulkanDeviceException($"The selected Vulkan device cannot run the engine: {why}.");
            var physical = devices.First(d => d.Info.Index == chosen.Index).Handle;
            return new VulkanDevice(vk, instance, debug, physical, chosen, options);
        }
        catch
        {
            debug?.Dispose();
            vk.DestroyInstance(instance, null);
            throw;
        }
    }

    /// <summary>Applies the selection rule to a device list: index, name substring, or the default rank.</summary>
    public static PhysicalDeviceInfo Select(IReadOnlyList<PhysicalDeviceInfo> devices, string? selector)
    {
        if (devices.Count == 0)
            throw new NoVulkanDeviceException("No Vulkan device found: install a Vulkan driver (GPU vendor driver, or Mesa's lavapipe: 'apt-get install mesa-vulkan-drivers').");
        if (string.IsNullOrWhiteSpace(selector))
            return devices.OrderBy(d => d.Rank).ThenBy(d => d.Index).First();
        selector = selector.Trim();
        if (int.TryParse(selector, out int index))
            return devices.FirstOrDefault(d => d.Index == index)
                ?? throw new NoVulkanDeviceException($"No Vulkan device with index {index}; devices: {string.Join("; ", devices)}");
        return devices.FirstOrDefault(d => d.Name.Contains(selector, StringComparison.OrdinalIgnoreCase))
            ?? throw new NoVulkanDeviceException($"No Vulkan device whose name contains '{selector}'; devices: {string.Join("; ", devices)}");
    }

    private static (Vk, Instance, DebugMessenger?) CreateInstance(bool validation, Action<string>? log)
    {
        var vk = LoadVulkan();
        var layers = new List<string>();
        var extensions = new List<string>();
        if (validation && HasInstanceLayer(vk, "VK_LAYER_KHRONOS_validation"))
        {
            layers.Add("VK_LAYER_KHRONOS_validation");
            extensions.Add("VK_EXT_debug_utils");
        }
        // MoltenVK (macOS) is a "portability" driver: current loaders list it only to instances that ask for those.
        bool portability = HasInstanceExtension(vk, PortabilityEnumeration);
        if (portability) extensions.Add(PortabilityEnumeration);
        var name = (byte*)SilkMarshal.StringToPtr("WfVae.Vulkan");
        var layerPtrs = (byte**)SilkMarshal.StringArrayToPtr(layers);
        var extPtrs = (byte**)SilkMarshal.StringArrayToPtr(extensions);
        try
        {
            var app = new ApplicationInfo
            {
                SType = StructureType.ApplicationInfo,
                PApplicationName = name,
                PEngineName = name,
                ApiVersion = Vk.Version12,
            };
            var info = new InstanceCreateInfo
            {
                SType = StructureType.InstanceCreateInfo,
                PApplicationInfo = &app,
                EnabledLayerCount = (uint)layers.Count,
                PpEnabledLayerNames = layerPtrs,
                EnabledExtensionCount = (uint)extensions.Count,
                PpEnabledExtensionNames = extPtrs,
                Flags = portability ? InstanceCreateFlags.EnumeratePortabilityBitKhr : 0,
            };
            Result r;
            Instance instance;
            try
            {
                r = vk.CreateInstance(in info, null, out instance);
            }
            catch (Exception e) when (e is DllNotFoundException or FileNotFoundException or EntryPointNotFoundException)
            {
                throw new NoVulkanDeviceException($"No Vulkan loader could be loaded ({e.Message}). Install it: Debian/Ubuntu 'apt-get install libvulkan1 mesa-vulkan-drivers'.");
            }
            if (r == Result.ErrorIncompatibleDriver)
                throw new NoVulkanDeviceException("The Vulkan loader found no compatible driver (vkCreateInstance: ErrorIncompatibleDriver). Install a Vulkan driver, e.g. 'apt-get install mesa-vulkan-drivers' for the CPU (lavapipe).");
            r.Check("vkCreateInstance");
            var debug = layers.Count > 0 ? DebugMessenger.TryCreate(vk, instance, log) : null;
            return (vk, instance, debug);
        }
        finally
        {
            SilkMarshal.Free((nint)name);
            SilkMarshal.Free((nint)layerPtrs);
            SilkMarshal.Free((nint)extPtrs);
        }
    }

    private static Vk LoadVulkan()
    {
        try
        {
            return Vk.GetApi();
        }
        catch (Exception e)
        {
            throw new NoVulkanDeviceException($"No Vulkan loader could be loaded ({e.GetType().Name}: {e.Message}). Install it: Debian/Ubuntu 'apt-get install libvulkan1 mesa-vulkan-drivers', Windows/macOS: a GPU driver or the Vulkan SDK.");
        }
    }

    private const string PortabilityEnumeration = "VK_KHR_portability_enumeration";

    private static bool HasInstanceExtension(Vk vk, string extension)
    {
        uint count = 0;
        vk.EnumerateInstanceExtensionProperties((byte*)null, &count, (ExtensionProperties*)null);
        var props = new ExtensionProperties[count];
        fixed (ExtensionProperties* p = props) vk.EnumerateInstanceExtensionProperties((byte*)null, &count, p);
        foreach (var e in props)
            if (SilkMarshal.PtrToString((nint)e.ExtensionName) == extension) return true;
        return false;
    }

    private static bool HasInstanceLayer(Vk vk, string layer)
    {
        uint count = 0;
        vk.EnumerateInstanceLayerProperties(ref count, null);
        var props = new LayerProperties[count];
        fixed (LayerProperties* p = props) vk.EnumerateInstanceLayerProperties(ref count, p);
        foreach (var lp in props)
            if (SilkMarshal.PtrToString((nint)lp.LayerName) == layer) return true;
        return false;
    }

    private static List<(PhysicalDevice Handle, PhysicalDeviceInfo Info)> EnumerateDevices(Vk vk, Instance instance)
    {
        uint count = 0;
        vk.EnumeratePhysicalDevices(instance, ref count, null).Check("vkEnumeratePhysicalDevices");
        var handles = new PhysicalDevice[count];
        fixed (PhysicalDevice* p = handles) vk.EnumeratePhysicalDevices(instance, ref count, p).Check("vkEnumeratePhysicalDevices");
        var list = new List<(PhysicalDevice, PhysicalDeviceInfo)>();
        for (int i = 0; i < handles.Length; i++)
            list.Add((handles[i], Describe(vk, instance, handles[i], i)));
        return list;
    }

    private static PhysicalDeviceInfo Describe(Vk vk, Instance instance, PhysicalDevice pd, int index)
    {
        // Driver properties are Vulkan 1.2 core: chained only where the device has 1.2 (a 1.1 driver may reject them).
        vk.GetPhysicalDeviceProperties(pd, out var basic);
        bool api12 = basic.ApiVersion >= Vk.Version12;
        var driver = new PhysicalDeviceDriverProperties { SType = StructureType.PhysicalDeviceDriverProperties };
        var maintenance3 = new PhysicalDeviceMaintenance3Properties { SType = StructureType.PhysicalDeviceMaintenance3Properties, PNext = api12 ? &driver : null };
        var subgroup = new PhysicalDeviceSubgroupProperties { SType = StructureType.PhysicalDeviceSubgroupProperties, PNext = &maintenance3 };
        var props2 = new PhysicalDeviceProperties2 { SType = StructureType.PhysicalDeviceProperties2, PNext = &subgroup };
        vk.GetPhysicalDeviceProperties2(pd, &props2);
        var p = props2.Properties;

        var f11 = new PhysicalDeviceVulkan11Features { SType = StructureType.PhysicalDeviceVulkan11Features };
        var f12 = new PhysicalDeviceVulkan12Features { SType = StructureType.PhysicalDeviceVulkan12Features, PNext = &f11 };
        var features2 = new PhysicalDeviceFeatures2 { SType = StructureType.PhysicalDeviceFeatures2, PNext = &f12 };
        if (api12) vk.GetPhysicalDeviceFeatures2(pd, &features2);

        var (local, uma, hostCached) = DeviceMemory(vk, pd);
        uint timestampBits = TimestampBits(vk, pd);
        bool timestamps = timestampBits > 0 && p.Limits.TimestampPeriod > 0;

        string version = $"{p.ApiVersion >> 22}.{(p.ApiVersion >> 12) & 0x3FF}.{p.ApiVersion & 0xFFF}";
        string driverName = api12 ? $"{SilkMarshal.PtrToString((nint)driver.DriverName)} {SilkMarshal.PtrToString((nint)driver.DriverInfo)}".Trim() : "";
        return new PhysicalDeviceInfo(
            index,
            SilkMarshal.PtrToString((nint)p.DeviceName) ?? "?",
            PhysicalDeviceInfo.KindOf(p.DeviceType),
            p.VendorID,
            p.DeviceID,
            version,
            driverName,
            local,
            uma,
            p.Limits.MaxStorageBufferRange,
            p.Limits.MaxComputeSharedMemorySize,
            subgroup.SubgroupSize,
            api12 && f12.ShaderFloat16,
            api12 && f11.StorageBuffer16BitAccess,
            p.Limits.TimestampPeriod,
            timestamps)
        {
            MaxMemoryAllocationBytes = maintenance3.MaxMemoryAllocationSize is 0 ? ulong.MaxValue : maintenance3.MaxMemoryAllocationSize, // 0: not filled in
            TimestampValidBits = (int)timestampBits,
            HostCachedDeviceMemory = hostCached,
            BufferDeviceAddress = api12 && f12.BufferDeviceAddress,
            MesaVersion = PhysicalDeviceInfo.ParseMesaVersion(driverName),
            MaxWorkgroupInvocations = p.Limits.MaxComputeWorkGroupInvocations,
            MaxWorkgroupSizeX = p.Limits.MaxComputeWorkGroupSize[0],
            CooperativeMatrix = ProbeCooperativeMatrix(vk, instance, pd, api12,
                api12 && f12.ShaderFloat16 && f11.StorageBuffer16BitAccess, api12 && f12.VulkanMemoryModel),
        };
    }

    /// <summary>Bytes of device-local heaps, whether every device-local memory type is also host-visible, and whether
    /// one is host-cached (what DeviceMemoryPool maps).</summary>
    private static (ulong Local, bool Unified, bool HostCached) DeviceMemory(Vk vk, PhysicalDevice pd)
    {
        vk.GetPhysicalDeviceMemoryProperties(pd, out var mem);
        ulong local = 0;
        for (int h = 0; h < mem.MemoryHeapCount; h++)
            if ((mem.MemoryHeaps[h].Flags & MemoryHeapFlags.DeviceLocalBit) != 0) local += mem.MemoryHeaps[h].Size;
        bool uma = true, cached = false;
        const MemoryPropertyFlags mappable = DeviceMemoryPool.MappedDeviceType;
        for (int t = 0; t < mem.MemoryTypeCount; t++)
        {
            var f = mem.MemoryTypes[t].PropertyFlags;
            if ((f & MemoryPropertyFlags.DeviceLocalBit) != 0 && (f & MemoryPropertyFlags.HostVisibleBit) == 0) uma = false;
            if ((f & mappable) == mappable) cached = true;
        }
        return (local, uma, cached);
    }

    /// <summary>Valid timestamp bits of the compute queue family the device would use (0: none).</summary>
    private static uint TimestampBits(Vk vk, PhysicalDevice pd)
    {
        uint family = FindComputeQueueFamily(vk, pd, throwIfNone: false);
        if (family == uint.MaxValue) return 0;
        uint qc = 0;
        vk.GetPhysicalDeviceQueueFamilyProperties(pd, ref qc, null);
        var qp = new QueueFamilyProperties[qc];
        fixed (QueueFamilyProperties* q = qp) vk.GetPhysicalDeviceQueueFamilyProperties(pd, ref qc, q);
        return qp[family].TimestampValidBits;
    }

    private static uint FindComputeQueueFamily(Vk vk, PhysicalDevice pd, bool throwIfNone = true)
    {
        uint count = 0;
        vk.GetPhysicalDeviceQueueFamilyProperties(pd, ref count, null);
        var props = new QueueFamilyProperties[count];
        fixed (QueueFamilyProperties* p = props) vk.GetPhysicalDeviceQueueFamilyProperties(pd, ref count, p);
        // Prefer a family with timestamps so per-dispatch timing works.
        int best = -1;
        for (int i = 0; i < count; i++)
        {
            if ((props[i].QueueFlags & QueueFlags.ComputeBit) == 0) continue;
            if (best < 0 || (props[best].TimestampValidBits == 0 && props[i].TimestampValidBits > 0)) best = i;
        }
        if (best < 0 && throwIfNone) throw new NoVulkanDeviceException("The selected Vulkan device has no compute queue.");
        return best < 0 ? uint.MaxValue : (uint)best;
    }

    /// <summary>How long a pipeline cache file of the user cache folder outlives its last use.</summary>
    public static readonly TimeSpan PipelineCacheLifetime = TimeSpan.FromDays(90);

    /// <summary>The pipeline cache file (null: none); a default one in the user cache also prunes that folder's stale ones.</summary>
    private static string? ResolveCachePath(DeviceOptions options, PhysicalDeviceInfo info)
    {
        if (options.PipelineCachePath == "") return null;
        if (options.PipelineCachePath != null) return options.PipelineCachePath;
        var root = UserCache.Folder;
        // The driver is part of the name: two drivers of one device (Mesa 22.3 and 25 lavapipe) would overwrite each other's cache.
        var safe = string.Concat($"{info.Name}-{info.Driver}".Select(c => char.IsLetterOrDigit(c) ? c : '_'));
        var path = Path.Combine(root, $"pipelines-{info.VendorId:x}-{info.DeviceId:x}-{safe}.bin");
        // Every run rewrites its cache file, so one untouched for months belongs to a driver no longer used.
        UserCache.PruneStale(root, "pipelines-*", PipelineCacheLifetime, keep: path); // with a crashed save's temporaries
        return path;
    }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _logged = new();

    /// <summary>Whether kernel choices are logged (<see cref="DeviceOptions.Verbose"/>) to a sink that is set.</summary>
    public bool Verbose => Options.Verbose == true && Options.Log != null;

    /// <summary>Writes one line to the device's log sink (<see cref="DeviceOptions.Log"/>; nothing when none is set).</summary>
    public void Log(string line) => Options.Log?.Invoke(line);

    /// <summary>Writes <paramref name="line"/> the first time this device sees it (per-layer choices repeat every push).</summary>
    public void LogOnce(string line)
    {
        if (Options.Log != null && _logged.TryAdd(line, true)) Options.Log(line);
    }

    /// <summary>Starts a batch of dispatches that is submitted as one command buffer.</summary>
    public CommandRecorder BeginCommands(bool timestamps = false) => new(this, timestamps && Info.TimestampsSupported);

    internal void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>vkQueueSubmit of one command buffer; the queue is shared by every recorder of the device.</summary>
    internal void Submit(in SubmitInfo submit, Fence fence)
    {
        lock (_queueLock) Vk.QueueSubmit(Queue, 1, in submit, fence).Check("vkQueueSubmit");
    }

    public void WaitIdle()
    {
        lock (_queueLock) Vk.DeviceWaitIdle(Handle).Check("vkDeviceWaitIdle");
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Vk.DeviceWaitIdle(Handle);
        Pipelines.Dispose();
        Memory.Dispose();
        Vk.DestroyDevice(Handle, null);
        _debug?.Dispose();
        Vk.DestroyInstance(Instance, null);
        Vk.Dispose();
    }
}

using Silk.NET.Core.Native;
using Silk.NET.Vulkan;

namespace WfVae.Runtime;

// Cooperative-matrix probing and device creation (issue #6). Silk.NET.Vulkan 2.23 has the structures but the query
// functions live in extension packages this project does not use, so they are called through raw function pointers
// from vkGetInstanceProcAddr, and only when the device lists the extension.
public sealed unsafe partial class VulkanDevice
{
    private const string KhrExtension = "VK_KHR_cooperative_matrix";
    private const string NvExtension = "VK_NV_cooperative_matrix";
    private const string Nv2Extension = "VK_NV_cooperative_matrix2";

    internal static string ExtensionName(CooperativeMatrixPath path) => path == CooperativeMatrixPath.Khr ? KhrExtension : NvExtension;

    private static HashSet<string> DeviceExtensions(Vk vk, PhysicalDevice pd)
    {
        uint count = 0;
        vk.EnumerateDeviceExtensionProperties(pd, (byte*)null, &count, (ExtensionProperties*)null);
        var props = new ExtensionProperties[count];
        var set = new HashSet<string>(StringComparer.Ordinal);
        fixed (ExtensionProperties* p = props)
        {
            vk.EnumerateDeviceExtensionProperties(pd, (byte*)null, &count, p);
            for (int i = 0; i < count; i++)
                set.Add(SilkMarshal.PtrToString((nint)p[i].ExtensionName) ?? "");
        }
        return set;
    }

    private static CooperativeMatrixOffer ProbeCooperativeMatrix(Vk vk, Instance instance, PhysicalDevice pd, bool api12, bool float16, bool memoryModel)
    {
        var ext = DeviceExtensions(vk, pd);
        bool khr = ext.Contains(KhrExtension), nv = ext.Contains(NvExtension), nv2 = ext.Contains(Nv2Extension);
        if (!api12 || (!khr && !nv)) return new CooperativeMatrixOffer(Absent(khr), Absent(nv), nv2, float16, memoryModel);

        // Features and supported stages, each chained only when its extension is listed.
        var khrF = new PhysicalDeviceCooperativeMatrixFeaturesKHR { SType = StructureType.PhysicalDeviceCooperativeMatrixFeaturesKhr };
        var nvF = new PhysicalDeviceCooperativeMatrixFeaturesNV { SType = StructureType.PhysicalDeviceCooperativeMatrixFeaturesNV };
        var features2 = new PhysicalDeviceFeatures2 { SType = StructureType.PhysicalDeviceFeatures2 };
        var khrP = new PhysicalDeviceCooperativeMatrixPropertiesKHR { SType = StructureType.PhysicalDeviceCooperativeMatrixPropertiesKhr };
        var nvP = new PhysicalDeviceCooperativeMatrixPropertiesNV { SType = StructureType.PhysicalDeviceCooperativeMatrixPropertiesNV };
        var props2 = new PhysicalDeviceProperties2 { SType = StructureType.PhysicalDeviceProperties2 };
        if (khr) { khrF.PNext = features2.PNext; features2.PNext = &khrF; khrP.PNext = props2.PNext; props2.PNext = &khrP; }
        if (nv) { nvF.PNext = features2.PNext; features2.PNext = &nvF; nvP.PNext = props2.PNext; props2.PNext = &nvP; }
        vk.GetPhysicalDeviceFeatures2(pd, &features2);
        vk.GetPhysicalDeviceProperties2(pd, &props2);

        var khrOffer = khr
            ? new CooperativeMatrixExtension(true, khrF.CooperativeMatrix, (khrP.CooperativeMatrixSupportedStages & ShaderStageFlags.ComputeBit) != 0, KhrShapes(vk, instance, pd))
            : CooperativeMatrixExtension.Absent;
        var nvOffer = nv
            ? new CooperativeMatrixExtension(true, nvF.CooperativeMatrix, (nvP.CooperativeMatrixSupportedStages & ShaderStageFlags.ComputeBit) != 0, NvShapes(vk, instance, pd))
            : CooperativeMatrixExtension.Absent;
        return new CooperativeMatrixOffer(khrOffer, nvOffer, nv2, float16, memoryModel);
    }

    private static CooperativeMatrixExtension Absent(bool offered) =>
        offered ? new CooperativeMatrixExtension(true, false, false, Array.Empty<CooperativeMatrixShape>()) : CooperativeMatrixExtension.Absent;

    private static List<CooperativeMatrixShape> KhrShapes(Vk vk, Instance instance, PhysicalDevice pd)
    {
        var list = new List<CooperativeMatrixShape>();
        var fn = (delegate* unmanaged<PhysicalDevice, uint*, CooperativeMatrixPropertiesKHR*, Result>)(nint)vk.GetInstanceProcAddr(instance, "vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR");
        if (fn == null) return list;
        uint count = 0;
        if (fn(pd, &count, null) != Result.Success || count == 0) return list;
        var props = new CooperativeMatrixPropertiesKHR[count];
        for (int i = 0; i < count; i++) props[i].SType = StructureType.CooperativeMatrixPropertiesKhr;
        fixed (CooperativeMatrixPropertiesKHR* p = props)
            if (fn(pd, &count, p) is not (Result.Success or Result.Incomplete)) return list;
        for (int i = 0; i < count; i++)
        {
            var q = props[i];
            list.Add(new CooperativeMatrixShape(q.MSize, q.NSize, q.KSize, (int)q.AType, (int)q.BType, (int)q.CType, (int)q.ResultType, (int)q.Scope));
        }
        return list;
    }

    private static List<CooperativeMatrixShape> NvShapes(Vk vk, Instance instance, PhysicalDevice pd)
    {
        var list = new List<CooperativeMatrixShape>();
        var fn = (delegate* unmanaged<PhysicalDevice, uint*, CooperativeMatrixPropertiesNV*, Result>)(nint)vk.GetInstanceProcAddr(instance, "vkGetPhysicalDeviceCooperativeMatrixPropertiesNV");
        if (fn == null) return list;
        uint count = 0;
        if (fn(pd, &count, null) != Result.Success || count == 0) return list;
        var props = new CooperativeMatrixPropertiesNV[count];
        for (int i = 0; i < count; i++) props[i].SType = StructureType.CooperativeMatrixPropertiesNV;
        fixed (CooperativeMatrixPropertiesNV* p = props)
            if (fn(pd, &count, p) is not (Result.Success or Result.Incomplete)) return list;
        for (int i = 0; i < count; i++)
        {
            var q = props[i];
            // NV names the accumulator C and the result D.
            list.Add(new CooperativeMatrixShape(q.MSize, q.NSize, q.KSize, (int)q.AType, (int)q.BType, (int)q.CType, (int)q.DType, (int)q.Scope));
        }
        return list;
    }

    /// <summary>
    /// vkCreateDevice with one compute queue, fp16 storage/arithmetic where offered and, for each cooperative-matrix
    /// path in <paramref name="coop"/>, its extension and cooperativeMatrix feature, plus vulkanMemoryModel (the kernels'
    /// SPIR-V uses the Vulkan memory model), and bufferDeviceAddress where <paramref name="deviceAddresses"/>.
    /// </summary>
    private static Result CreateLogicalDevice(Vk vk, PhysicalDevice physical, PhysicalDeviceInfo info, uint queueFamily,
        IReadOnlyList<CooperativeMatrixPath> coop, bool deviceAddresses, out Device handle)
    {
        float priority = 1f;
        var queueInfo = new DeviceQueueCreateInfo
        {
            SType = StructureType.DeviceQueueCreateInfo,
            QueueFamilyIndex = queueFamily,
            QueueCount = 1,
            PQueuePriorities = &priority,
        };
        // Half-precision storage and arithmetic are switched on where offered, for the fp16 path.
        var khrF = new PhysicalDeviceCooperativeMatrixFeaturesKHR { SType = StructureType.PhysicalDeviceCooperativeMatrixFeaturesKhr, CooperativeMatrix = true };
        var nvF = new PhysicalDeviceCooperativeMatrixFeaturesNV { SType = StructureType.PhysicalDeviceCooperativeMatrixFeaturesNV, CooperativeMatrix = true };
        var f11 = new PhysicalDeviceVulkan11Features { SType = StructureType.PhysicalDeviceVulkan11Features, StorageBuffer16BitAccess = info.Storage16Bit };
        var f12 = new PhysicalDeviceVulkan12Features { SType = StructureType.PhysicalDeviceVulkan12Features, ShaderFloat16 = info.ShaderFloat16,
            BufferDeviceAddress = deviceAddresses, PNext = &f11 };
        bool api12 = Version.Parse(info.ApiVersion) >= new Version(1, 2);
        var extensions = new List<string>();
        foreach (var path in coop)
        {
            f12.VulkanMemoryModel = true;
            var feature = path == CooperativeMatrixPath.Khr ? (BaseOutStructure*)&khrF : (BaseOutStructure*)&nvF;
            feature->PNext = (BaseOutStructure*)f11.PNext;
            f11.PNext = feature;
            extensions.Add(ExtensionName(path));
        }
        // A portability driver (MoltenVK) must be told the application knows it is one.
        if (DeviceExtensions(vk, physical).Contains("VK_KHR_portability_subset")) extensions.Add("VK_KHR_portability_subset");
        var extPtrs = (byte**)SilkMarshal.StringArrayToPtr(extensions);
        try
        {
            var createInfo = new DeviceCreateInfo
            {
                SType = StructureType.DeviceCreateInfo,
                QueueCreateInfoCount = 1,
                PQueueCreateInfos = &queueInfo,
                PNext = api12 ? &f12 : null,
                EnabledExtensionCount = (uint)extensions.Count,
                PpEnabledExtensionNames = extPtrs,
            };
            return vk.CreateDevice(physical, in createInfo, null, out handle);
        }
        finally
        {
            SilkMarshal.Free((nint)extPtrs);
        }
    }
}

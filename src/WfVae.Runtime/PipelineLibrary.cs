using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using System.Runtime.InteropServices;
using Silk.NET.Core.Native;
using Silk.NET.Vulkan;
using Buffer = Silk.NET.Vulkan.Buffer;

namespace WfVae.Runtime;

/// <summary>
/// Builds compute pipelines once from SPIR-V embedded in the loaded assemblies (resource "&lt;name&gt;.spv"),
/// keyed by shader and specialization constants, through a VkPipelineCache persisted on disk.
/// Owns the descriptor pools; descriptor sets are cached per pipeline and set of block buffers.
/// </summary>
public sealed unsafe class PipelineLibrary : IDisposable
{
    private readonly VulkanDevice _device;
    private readonly string? _cachePath;
    private readonly PipelineCache _cache;
    private readonly Dictionary<string, ComputePipeline> _pipelines = new();
    private readonly List<DescriptorPool> _pools = new();
    private readonly Dictionary<(ulong Buffer, Format Format), BufferView> _views = new();
    private readonly long _maxTexels;
    private static readonly ConcurrentDictionary<string, byte[]> SpirvByName = new();

    internal PipelineLibrary(VulkanDevice device, string? cachePath)
    {
        _device = device;
        _cachePath = cachePath;
        device.Vk.GetPhysicalDeviceProperties(device.Physical, out var props);
        _maxTexels = props.Limits.MaxTexelBufferElements;
        byte[] initial = Array.Empty<byte>();
        try
        {
            if (cachePath != null && File.Exists(cachePath)) initial = File.ReadAllBytes(cachePath);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        fixed (byte* p = initial)
        {
            var info = new PipelineCacheCreateInfo { SType = StructureType.PipelineCacheCreateInfo, InitialDataSize = (nuint)initial.Length, PInitialData = p };
            // A stale or foreign cache blob is rejected by the driver; start empty then.
            if (device.Vk.CreatePipelineCache(device.Handle, in info, null, out _cache) != Result.Success)
            {
                info.InitialDataSize = 0;
                device.Vk.CreatePipelineCache(device.Handle, in info, null, out _cache).Check("vkCreatePipelineCache");
            }
        }
    }

    public int Count => _pipelines.Count;

    /// <summary>The pipeline for <paramref name="shader"/> with the given specialization constants (ids 0, 1, 2, … in order).</summary>
    public ComputePipeline Get(string shader, int bindings, int pushConstantBytes, ReadOnlySpan<int> specialization = default)
    {
        Span<BindingKind> kinds = stackalloc BindingKind[bindings];
        kinds.Fill(BindingKind.Storage);
        return Get(shader, kinds, pushConstantBytes, specialization);
    }

    /// <summary>As above, with the kind of each binding (storage buffer or uniform texel buffer).</summary>
    public ComputePipeline Get(string shader, ReadOnlySpan<BindingKind> bindings, int pushConstantBytes, ReadOnlySpan<int> specialization = default)
    {
        var key = shader + "|" + string.Join(",", bindings.ToArray()) + "|" + pushConstantBytes + "|" + string.Join(",", specialization.ToArray());
        if (_pipelines.TryGetValue(key, out var p)) return p;
        p = new ComputePipeline(this, _device, shader, Spirv(shader), bindings, pushConstantBytes, specialization, _cache);
        _pipelines[key] = p;
        return p;
    }

    /// <summary>Elements of the largest texel buffer view (maxTexelBufferElements).</summary>
    public long MaxTexelBufferElements => _maxTexels;

    /// <summary>Texel format of a binding kind over elements of <paramref name="elementBytes"/> (R32F/RGBA32F or R16F/RGBA16F).</summary>
    public static Format TexelFormat(BindingKind kind, int elementBytes) => (kind, elementBytes) switch
    {
        (BindingKind.Texels4, 2) => Format.R16G16B16A16Sfloat,
        (BindingKind.Texels4, _) => Format.R32G32B32A32Sfloat,
        (_, 2) => Format.R16Sfloat,
        _ => Format.R32Sfloat,
    };

    /// <summary>Whether the device can read <paramref name="format"/> through a uniform texel buffer.</summary>
    public bool SupportsUniformTexels(Format format)
    {
        lock (_formatSupport)
        {
            if (_formatSupport.TryGetValue(format, out bool ok)) return ok;
            _device.Vk.GetPhysicalDeviceFormatProperties(_device.Physical, format, out var props);
            return _formatSupport[format] = (props.BufferFeatures & FormatFeatureFlags.UniformTexelBufferBit) != 0;
        }
    }

    private readonly Dictionary<Format, bool> _formatSupport = new();

    /// <summary>
    /// The texel view of a whole memory block in <paramref name="format"/>, created on first use and destroyed with the
    /// block (<see cref="ForgetBuffer"/>). Throws if the tensor lies beyond what one view can address.
    /// </summary>
    internal BufferView TexelView(GpuTensor t, BindingKind kind)
    {
        var format = TexelFormat(kind, t.ElementBytes);
        long texelBytes = (kind == BindingKind.Texels4 ? 4 : 1) * t.ElementBytes;
        var block = t.Storage.Block;
        long range = Math.Min(block.Size, _maxTexels * texelBytes) / texelBytes * texelBytes;
        if (t.ByteRange.End > range)
            throw new VulkanException($"{t.Shape} ends at byte {t.ByteRange.End:N0} of its memory block, beyond the {range:N0} bytes a texel buffer view can address on {_device.Info.Name} (maxTexelBufferElements {_maxTexels:N0}).", Result.ErrorOutOfDeviceMemory);
        var key = (block.Buffer.Handle, format);
        if (_views.TryGetValue(key, out var view)) return view;
        var info = new BufferViewCreateInfo { SType = StructureType.BufferViewCreateInfo, Buffer = block.Buffer, Format = format, Offset = 0, Range = (ulong)range };
        _device.Vk.CreateBufferView(_device.Handle, in info, null, out view).Check("vkCreateBufferView");
        _views[key] = view;
        return view;
    }

    /// <summary>Finds "&lt;name&gt;.spv" among the embedded resources of the loaded assemblies.</summary>
    public static byte[] Spirv(string name)
    {
        return SpirvByName.GetOrAdd(name, n => FindResource(n + ".spv")
            ?? throw new InvalidOperationException($"No embedded SPIR-V named '{n}.spv' in the loaded assemblies; was the shader compiled (shaders/{n}.comp)?"));
    }

    /// <summary>Whether "&lt;name&gt;.spv" is embedded (optional shaders, e.g. the cooperative-matrix conv, exist only where glslc could build them).</summary>
    public static bool HasSpirv(string name) => SpirvByName.ContainsKey(name) || FindResource(name + ".spv") != null;

    /// <summary>An embedded UTF-8 text resource of the loaded assemblies (e.g. the shader build's notes), or null.</summary>
    public static string? FindResourceText(string resource)
    {
        var bytes = FindResource(resource);
        return bytes == null ? null : System.Text.Encoding.UTF8.GetString(bytes);
    }

    private static byte[]? FindResource(string resource)
    {
        // Shaders live in the operator library, which may not be loaded yet: walk the references too.
        var seen = new HashSet<string>();
        var queue = new Queue<Assembly>(AppDomain.CurrentDomain.GetAssemblies().Where(a => !a.IsDynamic));
        while (queue.Count > 0)
        {
            var asm = queue.Dequeue();
            if (!seen.Add(asm.FullName ?? asm.GetName().Name ?? "")) continue;
            using (var s = asm.GetManifestResourceStream(resource))
            {
                if (s != null)
                {
                    var bytes = new byte[s.Length];
                    s.ReadExactly(bytes);
                    return bytes;
                }
            }
            foreach (var r in ReferencedAssemblies(asm))
            {
                if (r.Name == null || r.Name.StartsWith("System") || r.Name.StartsWith("Microsoft") || seen.Contains(r.FullName)) continue;
                try { queue.Enqueue(Assembly.Load(r)); }
                catch (IOException) { }
                catch (BadImageFormatException) { }
            }
        }
        return null;
    }

    // NativeAOT (the native plugin) has no assembly reference metadata: GetReferencedAssemblies throws
    // PlatformNotSupportedException. There every compiled assembly is listed by GetAssemblies() already,
    // so nothing is lost by not walking references.
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "Only a fallback for assemblies not loaded yet; under NativeAOT all are listed by GetAssemblies().")]
    private static AssemblyName[] ReferencedAssemblies(Assembly asm)
    {
        try { return asm.GetReferencedAssemblies(); }
        catch (PlatformNotSupportedException) { return Array.Empty<AssemblyName>(); }
    }

    internal DescriptorSet AllocateSet(DescriptorSetLayout layout, int bindings)
    {
        foreach (var pool in _pools)
            if (TryAllocate(pool, layout, out var set)) return set;
        var sizes = stackalloc DescriptorPoolSize[]
        {
            new DescriptorPoolSize { Type = DescriptorType.StorageBuffer, DescriptorCount = 8192 },
            new DescriptorPoolSize { Type = DescriptorType.UniformTexelBuffer, DescriptorCount = 4096 },
        };
        var info = new DescriptorPoolCreateInfo
        {
            SType = StructureType.DescriptorPoolCreateInfo,
            Flags = DescriptorPoolCreateFlags.FreeDescriptorSetBit,
            MaxSets = 1024,
            PoolSizeCount = 2,
            PPoolSizes = sizes,
        };
        _device.Vk.CreateDescriptorPool(_device.Handle, in info, null, out var fresh).Check("vkCreateDescriptorPool");
        _pools.Add(fresh);
        if (!TryAllocate(fresh, layout, out var s)) throw new VulkanException("vkAllocateDescriptorSets failed on a fresh pool");
        return s;
    }

    private bool TryAllocate(DescriptorPool pool, DescriptorSetLayout layout, out DescriptorSet set)
    {
        var info = new DescriptorSetAllocateInfo { SType = StructureType.DescriptorSetAllocateInfo, DescriptorPool = pool, DescriptorSetCount = 1, PSetLayouts = &layout };
        fixed (DescriptorSet* p = &set)
        {
            var r = _device.Vk.AllocateDescriptorSets(_device.Handle, in info, p);
            if (r == Result.Success) return true;
            if (r == Result.ErrorOutOfPoolMemory || r == Result.ErrorFragmentedPool) return false;
            r.Check("vkAllocateDescriptorSets");
            return false;
        }
    }

    internal void FreeSet(DescriptorSet set)
    {
        // The set came from one of our pools; vkFreeDescriptorSets needs that pool, so try each (few pools).
        foreach (var pool in _pools)
        {
            if (_device.Vk.FreeDescriptorSets(_device.Handle, pool, 1, in set) == Result.Success) return;
        }
    }

    internal void ForgetBuffer(Buffer buffer)
    {
        foreach (var p in _pipelines.Values) p.ForgetBuffer(buffer);
        foreach (var k in _views.Keys.Where(k => k.Buffer == buffer.Handle).ToList())
        {
            _device.Vk.DestroyBufferView(_device.Handle, _views[k], null);
            _views.Remove(k);
        }
    }

    public void Dispose()
    {
        SaveCache();
        foreach (var p in _pipelines.Values) p.Destroy();
        _pipelines.Clear();
        foreach (var pool in _pools) _device.Vk.DestroyDescriptorPool(_device.Handle, pool, null);
        _pools.Clear();
        foreach (var v in _views.Values) _device.Vk.DestroyBufferView(_device.Handle, v, null);
        _views.Clear();
        _device.Vk.DestroyPipelineCache(_device.Handle, _cache, null);
    }

    private void SaveCache()
    {
        if (_cachePath == null) return;
        try
        {
            nuint size = 0;
            _device.Vk.GetPipelineCacheData(_device.Handle, _cache, ref size, null);
            var data = new byte[(int)size];
            fixed (byte* p = data) _device.Vk.GetPipelineCacheData(_device.Handle, _cache, ref size, p);
            Directory.CreateDirectory(Path.GetDirectoryName(_cachePath)!);
            WfVae.IO.OutputFile.WriteAllBytes(_cachePath, data);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}

/// <summary>A compute pipeline with N buffer bindings (set 0; storage or uniform texel buffers) and a push-constant block.</summary>
public sealed unsafe class ComputePipeline
{
    private readonly PipelineLibrary _library;
    private readonly VulkanDevice _device;
    internal readonly DescriptorSetLayout SetLayout;
    internal readonly PipelineLayout Layout;
    internal readonly Pipeline Handle;
    private readonly Dictionary<BufferSetKey, DescriptorSet> _sets = new();

    public string Name { get; }
    public int Bindings { get; }
    /// <summary>How each binding is declared.</summary>
    public IReadOnlyList<BindingKind> Kinds => _kinds;
    private readonly BindingKind[] _kinds;
    public int PushConstantBytes { get; }

    private static DescriptorType TypeOf(BindingKind k) => k == BindingKind.Storage ? DescriptorType.StorageBuffer : DescriptorType.UniformTexelBuffer;

    internal ComputePipeline(PipelineLibrary library, VulkanDevice device, string name, byte[] spirv, ReadOnlySpan<BindingKind> kinds, int pushBytes, ReadOnlySpan<int> spec, PipelineCache cache)
    {
        int bindings = kinds.Length;
        _kinds = kinds.ToArray();
        if (bindings > BufferSetKey.Capacity) throw new ArgumentOutOfRangeException(nameof(bindings), $"at most {BufferSetKey.Capacity} bindings");
        _library = library;
        _device = device;
        Name = name;
        Bindings = bindings;
        PushConstantBytes = pushBytes;
        var vk = device.Vk;

        var layoutBindings = stackalloc DescriptorSetLayoutBinding[bindings];
        for (int i = 0; i < bindings; i++)
            layoutBindings[i] = new DescriptorSetLayoutBinding { Binding = (uint)i, DescriptorType = TypeOf(_kinds[i]), DescriptorCount = 1, StageFlags = ShaderStageFlags.ComputeBit };
        var setInfo = new DescriptorSetLayoutCreateInfo { SType = StructureType.DescriptorSetLayoutCreateInfo, BindingCount = (uint)bindings, PBindings = layoutBindings };
        vk.CreateDescriptorSetLayout(device.Handle, in setInfo, null, out SetLayout).Check("vkCreateDescriptorSetLayout");

        var range = new PushConstantRange { StageFlags = ShaderStageFlags.ComputeBit, Offset = 0, Size = (uint)pushBytes };
        var setLayout = SetLayout;
        var layoutInfo = new PipelineLayoutCreateInfo
        {
            SType = StructureType.PipelineLayoutCreateInfo,
            SetLayoutCount = 1,
            PSetLayouts = &setLayout,
            PushConstantRangeCount = pushBytes > 0 ? 1u : 0u,
            PPushConstantRanges = &range,
        };
        vk.CreatePipelineLayout(device.Handle, in layoutInfo, null, out Layout).Check("vkCreatePipelineLayout");

        ShaderModule module;
        fixed (byte* code = spirv)
        {
            var moduleInfo = new ShaderModuleCreateInfo { SType = StructureType.ShaderModuleCreateInfo, CodeSize = (nuint)spirv.Length, PCode = (uint*)code };
            vk.CreateShaderModule(device.Handle, in moduleInfo, null, out module).Check($"vkCreateShaderModule({name})");
        }
        var entries = stackalloc SpecializationMapEntry[Math.Max(1, spec.Length)];
        var values = stackalloc int[Math.Max(1, spec.Length)];
        for (int i = 0; i < spec.Length; i++)
        {
            entries[i] = new SpecializationMapEntry { ConstantID = (uint)i, Offset = (uint)(i * 4), Size = 4 };
            values[i] = spec[i];
        }
        var specInfo = new SpecializationInfo { MapEntryCount = (uint)spec.Length, PMapEntries = entries, DataSize = (nuint)(spec.Length * 4), PData = values };
        var entry = (byte*)SilkMarshal.StringToPtr("main");
        try
        {
            var stage = new PipelineShaderStageCreateInfo
            {
                SType = StructureType.PipelineShaderStageCreateInfo,
                Stage = ShaderStageFlags.ComputeBit,
                Module = module,
                PName = entry,
                PSpecializationInfo = spec.Length > 0 ? &specInfo : null,
            };
            var pipeInfo = new ComputePipelineCreateInfo { SType = StructureType.ComputePipelineCreateInfo, Stage = stage, Layout = Layout };
            vk.CreateComputePipelines(device.Handle, cache, 1, in pipeInfo, null, out Handle).Check($"vkCreateComputePipelines({name})");
        }
        finally
        {
            SilkMarshal.Free((nint)entry);
            vk.DestroyShaderModule(device.Handle, module, null);
        }
    }

    /// <summary>
    /// The descriptor set binding these block buffers (key[i] = the block of bindings[i]), created on first use and then
    /// reused. Texel bindings use the block's texel view (one per block and format, owned by the library).
    /// </summary>
    internal DescriptorSet SetFor(in BufferSetKey key, ReadOnlySpan<Binding> bindings)
    {
        // The view check (tensor within the addressable range) must run on every dispatch, not only on a cache miss.
        var views = stackalloc BufferView[Bindings];
        for (int i = 0; i < Bindings; i++)
            if (_kinds[i] != BindingKind.Storage) views[i] = _library.TexelView(bindings[i].Tensor, _kinds[i]);
        if (_sets.TryGetValue(key, out var set)) return set;
        set = _library.AllocateSet(SetLayout, Bindings);
        var infos = stackalloc DescriptorBufferInfo[Bindings];
        var writes = stackalloc WriteDescriptorSet[Bindings];
        for (int i = 0; i < Bindings; i++)
        {
            infos[i] = new DescriptorBufferInfo { Buffer = new Buffer(key[i]), Offset = 0, Range = Vk.WholeSize };
            writes[i] = new WriteDescriptorSet
            {
                SType = StructureType.WriteDescriptorSet,
                DstSet = set,
                DstBinding = (uint)i,
                DescriptorCount = 1,
                DescriptorType = TypeOf(_kinds[i]),
            };
            if (_kinds[i] == BindingKind.Storage) writes[i].PBufferInfo = &infos[i];
            else writes[i].PTexelBufferView = &views[i];
        }
        _device.Vk.UpdateDescriptorSets(_device.Handle, (uint)Bindings, writes, 0, null);
        _sets[key] = set;
        return set;
    }

    internal void ForgetBuffer(Buffer buffer)
    {
        List<BufferSetKey>? stale = null;
        foreach (var k in _sets.Keys)
            if (k.Contains(buffer.Handle)) (stale ??= new()).Add(k);
        if (stale == null) return;
        foreach (var k in stale)
        {
            _library.FreeSet(_sets[k]);
            _sets.Remove(k);
        }
    }

    internal void Destroy()
    {
        var vk = _device.Vk;
        vk.DestroyPipeline(_device.Handle, Handle, null);
        vk.DestroyPipelineLayout(_device.Handle, Layout, null);
        vk.DestroyDescriptorSetLayout(_device.Handle, SetLayout, null);
    }
}

/// <summary>Up to eight VkBuffer handles, by binding: the identity of a cached descriptor set.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct BufferSetKey : IEquatable<BufferSetKey>
{
    public const int Capacity = 8;
    private fixed ulong _h[Capacity];
    private int _count;

    public ulong this[int i]
    {
        readonly get => _h[i];
        set { _h[i] = value; if (i >= _count) _count = i + 1; }
    }

    public readonly bool Contains(ulong handle)
    {
        for (int i = 0; i < _count; i++) if (_h[i] == handle) return true;
        return false;
    }

    public readonly bool Equals(BufferSetKey o)
    {
        if (o._count != _count) return false;
        for (int i = 0; i < _count; i++) if (_h[i] != o._h[i]) return false;
        return true;
    }

    public override readonly bool Equals(object? obj) => obj is BufferSetKey k && Equals(k);

    public override readonly int GetHashCode()
    {
        var hc = new HashCode();
        for (int i = 0; i < _count; i++) hc.Add(_h[i]);
        return hc.ToHashCode();
    }
}

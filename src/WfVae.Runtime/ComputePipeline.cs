using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Silk.NET.Core.Native;
using Silk.NET.Vulkan;
using Buffer = Silk.NET.Vulkan.Buffer;

namespace WfVae.Runtime;

/// <summary>
/// The pipeline of one <see cref="ShaderKernel"/> with fixed specialization constants: N buffer bindings (set 0;
/// storage or uniform texel buffers, as the kernel declares) and the kernel's push-constant block.
/// </summary>
public sealed unsafe class ComputePipeline
{
    private readonly PipelineLibrary _library;
    private readonly VulkanDevice _device;
    private readonly byte[] _spirv;
    private readonly int[] _spec;
    private readonly object _build = new();
    private volatile bool _built;
    private DescriptorSetLayout _setLayout;
    private PipelineLayout _layout;
    private Pipeline _handle;
    private readonly Dictionary<BufferSetKey, DescriptorSet> _sets = new();

    public ShaderKernel Kernel { get; }
    public string Name => Kernel.ModuleName;
    public int Bindings { get; }
    /// <summary>How each binding is declared.</summary>
    public IReadOnlyList<BindingKind> Kinds => _kinds;
    private readonly BindingKind[] _kinds;
    public int PushConstantBytes => Kernel.PushBytes;
    /// <summary>Whether the Vulkan objects exist (built by <see cref="PipelineLibrary.Prepare"/> or on first dispatch).</summary>
    public bool IsBuilt => _built;

    /// <summary>The specialization constants (ids 0, 1, 2, … in order).</summary>
    internal ReadOnlySpan<int> Specialization => _spec;

    /// <summary>
    /// Whether a dispatch of this pipeline was recorded for real (not by a dry run) on its device, or its shader was
    /// compiled ahead of the first one (<see cref="FirstDispatchCompiler"/>).
    /// </summary>
    internal bool Started { get; set; }

    /// <summary>
    /// The first dry-run dispatch's push constants and the element bytes of its bindings: enough to make the same
    /// pipeline compile on another device (<see cref="FirstDispatchCompiler"/>); null until a dry run dispatched it.
    /// </summary>
    internal (byte[] Push, int[] ElementBytes)? FirstUse { get; private set; }

    internal void NoteUse(ReadOnlySpan<Binding> bindings, ReadOnlySpan<byte> push)
    {
        if (FirstUse != null) return;
        var bytes = new int[bindings.Length];
        for (int i = 0; i < bytes.Length; i++) bytes[i] = bindings[i].Tensor.ElementBytes;
        FirstUse = (push.ToArray(), bytes);
    }

    internal DescriptorSetLayout SetLayout { get { EnsureBuilt(); return _setLayout; } }
    internal PipelineLayout Layout { get { EnsureBuilt(); return _layout; } }
    internal Pipeline Handle { get { EnsureBuilt(); return _handle; } }

    private static DescriptorType TypeOf(BindingKind k) => k == BindingKind.Storage ? DescriptorType.StorageBuffer : DescriptorType.UniformTexelBuffer;

    /// <summary>
    /// Checks the kernel against its descriptor and keeps what building needs. The Vulkan objects are built later
    /// (<see cref="Build"/>): a dry run names every pipeline a push uses without compiling any, so the library can
    /// compile them all at once on every core instead of one after another as the dispatches are recorded.
    /// </summary>
    internal ComputePipeline(PipelineLibrary library, VulkanDevice device, ShaderKernel kernel, ReadOnlySpan<int> spec)
    {
        _spirv = kernel.Spirv(); // checked against the descriptor before anything is created
        _kinds = kernel.Bindings.ToArray();
        if (_kinds.Length > BufferSetKey.Capacity) throw new ArgumentOutOfRangeException(nameof(kernel), $"{kernel}: at most {BufferSetKey.Capacity} bindings");
        if (spec.Length > kernel.Family.Specialization.Count)
            throw new ArgumentException($"{kernel}: {spec.Length} specialization constants given, the shader declares {kernel.Family.Specialization.Count}");
        _library = library;
        _device = device;
        _spec = spec.ToArray();
        Kernel = kernel;
        Bindings = _kinds.Length;
    }

    /// <summary>Builds the Vulkan objects unless built; returns whether this call built them. Thread-safe.</summary>
    internal bool EnsureBuilt()
    {
        if (_built) return false;
        lock (_build)
        {
            if (_built) return false;
            Build(_library.Cache);
            _built = true;
            return true;
        }
    }

    private void Build(PipelineCache cache)
    {
        int bindings = Bindings;
        int pushBytes = Kernel.PushBytes;
        string name = Kernel.ModuleName;
        var vk = _device.Vk;
        var device = _device;

        var layoutBindings = stackalloc DescriptorSetLayoutBinding[bindings];
        for (int i = 0; i < bindings; i++)
            layoutBindings[i] = new DescriptorSetLayoutBinding { Binding = (uint)i, DescriptorType = TypeOf(_kinds[i]), DescriptorCount = 1, StageFlags = ShaderStageFlags.ComputeBit };
        var setInfo = new DescriptorSetLayoutCreateInfo { SType = StructureType.DescriptorSetLayoutCreateInfo, BindingCount = (uint)bindings, PBindings = layoutBindings };
        // A build that failed part-way is retried on the next use: create only what is still missing.
        if (_setLayout.Handle == 0)
            vk.CreateDescriptorSetLayout(device.Handle, in setInfo, null, out _setLayout).Check("vkCreateDescriptorSetLayout");

        var range = new PushConstantRange { StageFlags = ShaderStageFlags.ComputeBit, Offset = 0, Size = (uint)pushBytes };
        var setLayout = _setLayout;
        var layoutInfo = new PipelineLayoutCreateInfo
        {
            SType = StructureType.PipelineLayoutCreateInfo,
            SetLayoutCount = 1,
            PSetLayouts = &setLayout,
            PushConstantRangeCount = pushBytes > 0 ? 1u : 0u,
            PPushConstantRanges = &range,
        };
        if (_layout.Handle == 0)
            vk.CreatePipelineLayout(device.Handle, in layoutInfo, null, out _layout).Check("vkCreatePipelineLayout");
        _handle = CreatePipeline(cache, name);
    }

    private Pipeline CreatePipeline(PipelineCache cache, string name)
    {
        var vk = _device.Vk;
        ShaderModule module;
        fixed (byte* code = _spirv)
        {
            var moduleInfo = new ShaderModuleCreateInfo { SType = StructureType.ShaderModuleCreateInfo, CodeSize = (nuint)_spirv.Length, PCode = (uint*)code };
            vk.CreateShaderModule(_device.Handle, in moduleInfo, null, out module).Check($"vkCreateShaderModule({name})");
        }
        int n = _spec.Length;
        var entries = stackalloc SpecializationMapEntry[Math.Max(1, n)];
        var values = stackalloc int[Math.Max(1, n)];
        for (int i = 0; i < n; i++)
        {
            entries[i] = new SpecializationMapEntry { ConstantID = (uint)i, Offset = (uint)(i * 4), Size = 4 };
            values[i] = _spec[i];
        }
        var specInfo = new SpecializationInfo { MapEntryCount = (uint)n, PMapEntries = entries, DataSize = (nuint)(n * 4), PData = values };
        var entry = (byte*)SilkMarshal.StringToPtr("main");
        try
        {
            var stage = new PipelineShaderStageCreateInfo
            {
                SType = StructureType.PipelineShaderStageCreateInfo,
                Stage = ShaderStageFlags.ComputeBit,
                Module = module,
                PName = entry,
                PSpecializationInfo = n > 0 ? &specInfo : null,
            };
            var pipeInfo = new ComputePipelineCreateInfo { SType = StructureType.ComputePipelineCreateInfo, Stage = stage, Layout = _layout };
            vk.CreateComputePipelines(_device.Handle, cache, 1, in pipeInfo, null, out Pipeline handle).Check($"vkCreateComputePipelines({name})");
            return handle;
        }
        finally
        {
            SilkMarshal.Free((nint)entry);
            vk.DestroyShaderModule(_device.Handle, module, null);
        }
    }

    /// <summary>
    /// The descriptor set binding these block buffers (key[i] = the block of bindings[i]), created on first use and then
    /// reused. Texel bindings use the block's texel view (one per block and format, owned by the library).
    /// </summary>
    internal DescriptorSet SetFor(in BufferSetKey key, ReadOnlySpan<Binding> bindings)
    {
        lock (_library.Sync) return SetForLocked(key, bindings);
    }

    private DescriptorSet SetForLocked(in BufferSetKey key, ReadOnlySpan<Binding> bindings)
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
        // A pipeline that failed to build part-way still owns what it created before the failure.
        var vk = _device.Vk;
        if (_handle.Handle != 0) vk.DestroyPipeline(_device.Handle, _handle, null);
        if (_layout.Handle != 0) vk.DestroyPipelineLayout(_device.Handle, _layout, null);
        if (_setLayout.Handle != 0) vk.DestroyDescriptorSetLayout(_device.Handle, _setLayout, null);
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

/// <summary>Specialization constant values of one pipeline (ids 0, 1, … in order).</summary>
[InlineArray(PipelineKey.MaxSpecialization)]
internal struct SpecValues
{
    private int _first;
}

/// <summary>The identity of a pipeline: its kernel and specialization constants. Built per lookup without allocating.</summary>
internal readonly struct PipelineKey : IEquatable<PipelineKey>
{
    public const int MaxSpecialization = 8;
    private readonly ShaderKernel _kernel;
    private readonly SpecValues _values;
    private readonly int _count;

    public PipelineKey(ShaderKernel kernel, ReadOnlySpan<int> values)
    {
        if (values.Length > MaxSpecialization) throw new ArgumentException($"{kernel}: at most {MaxSpecialization} specialization constants");
        _kernel = kernel;
        _count = values.Length;
        values.CopyTo(_values);
    }

    public bool Equals(PipelineKey o) =>
        ReferenceEquals(_kernel, o._kernel) && _count == o._count
        && ((ReadOnlySpan<int>)_values)[.._count].SequenceEqual(((ReadOnlySpan<int>)o._values)[..o._count]);

    public override bool Equals(object? obj) => obj is PipelineKey k && Equals(k);

    public override int GetHashCode()
    {
        var hc = new HashCode();
        hc.Add(RuntimeHelpers.GetHashCode(_kernel));
        foreach (int v in ((ReadOnlySpan<int>)_values)[.._count]) hc.Add(v);
        return hc.ToHashCode();
    }
}

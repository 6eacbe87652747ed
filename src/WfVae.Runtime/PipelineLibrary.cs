using System.Runtime.CompilerServices;
using Silk.NET.Core.Native;
using Silk.NET.Vulkan;
using Buffer = Silk.NET.Vulkan.Buffer;

namespace WfVae.Runtime;

/// <summary>
/// Builds compute pipelines once per device from <see cref="ShaderKernel"/>s (typed shader identities, declared by
/// the operator library's <see cref="ShaderFamily"/> descriptors), keyed by kernel and specialization constants,
/// through a VkPipelineCache persisted on disk. Owns the descriptor pools and the texel views; descriptor sets are
/// cached per pipeline and set of block buffers. Thread-safe: sessions on several threads share one device.
/// </summary>
public sealed unsafe class PipelineLibrary : IDisposable
{
    private readonly VulkanDevice _device;
    private readonly string? _cachePath;
    private readonly PipelineCache _cache;
    private readonly Dictionary<PipelineKey, ComputePipeline> _pipelines = new();
    private readonly List<DescriptorPool> _pools = new();
    /// <summary>The pool each live descriptor set came from, which vkFreeDescriptorSets must be given.</summary>
    private readonly Dictionary<ulong, DescriptorPool> _poolOfSet = new();
    /// <summary>Live descriptor sets per pool handle.</summary>
    private readonly Dictionary<ulong, int> _setsInPool = new();
    private readonly Dictionary<(ulong Buffer, Format Format), BufferView> _views = new();
    private readonly long _maxTexels;
    /// <summary>Guards pipelines, descriptor pools, cached sets and texel views (sessions record on several threads).</summary>
    internal readonly object Sync = new();

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
            if (device.Vk.CreatePipelineCache(device.Handle, in info, null, out _cache) == Result.Success)
                LoadedCacheBytes = initial.Length;
            else
            {
                info.InitialDataSize = 0;
                device.Vk.CreatePipelineCache(device.Handle, in info, null, out _cache).Check("vkCreatePipelineCache");
            }
        }
    }

    /// <summary>Bytes of the on-disk pipeline cache the driver accepted at creation (0: none, unreadable or rejected).</summary>
    public long LoadedCacheBytes { get; }

    /// <summary>Pipelines asked for so far (built or not yet).</summary>
    public int Count
    {
        get { lock (Sync) return _pipelines.Count; }
    }

    private int _built, _builtAtDispatch;

    /// <summary>Pipelines compiled so far (<see cref="Prepare"/> and first dispatches together).</summary>
    public int Built => Volatile.Read(ref _built);

    /// <summary>
    /// Pipelines compiled when a dispatch was recorded, one at a time, because no <see cref="Prepare"/> had built them:
    /// what the sessions' dry runs did not foresee.
    /// </summary>
    public int BuiltAtDispatch => Volatile.Read(ref _builtAtDispatch);

    internal PipelineCache Cache => _cache;

    /// <summary>Descriptor sets one descriptor pool holds; a further set takes a new pool.</summary>
    public const int SetsPerPool = 1024;

    /// <summary>Descriptor pools made so far (one per <see cref="SetsPerPool"/> sets alive at once).</summary>
    public int DescriptorPools
    {
        get { lock (Sync) return _pools.Count; }
    }

    /// <summary>
    /// Compiles every pipeline asked for but not built yet, in parallel (vkCreateComputePipelines and the pipeline
    /// cache are thread-safe), and returns how many it compiled. A session's dry run asks for every pipeline its push
    /// dispatches, so a cold start compiles them on all cores rather than one by one as the push is recorded.
    /// </summary>
    public int Prepare()
    {
        List<ComputePipeline> all;
        lock (Sync) all = _pipelines.Values.ToList();
        var pending = all.Where(p => !p.IsBuilt).ToList();
        int compiled = pending.Count == 0 ? 0 : Build(pending);
        FirstDispatchCompiler.Run(_device, all);
        return compiled;
    }

    private int Build(List<ComputePipeline> pending)
    {
        int compiled = 0;
        try
        {
            Parallel.ForEach(pending, p =>
            {
                if (p.EnsureBuilt()) Interlocked.Increment(ref compiled);
            });
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
        finally
        {
            Interlocked.Add(ref _built, compiled);
        }
        return compiled;
    }

    /// <summary>Builds <paramref name="pipeline"/> if nothing did yet (a dispatch no dry run foresaw).</summary>
    internal void EnsureBuilt(ComputePipeline pipeline)
    {
        if (pipeline.IsBuilt || !pipeline.EnsureBuilt()) return;
        Interlocked.Increment(ref _built);
        Interlocked.Increment(ref _builtAtDispatch);
    }

    /// <summary>
    /// The pipeline of <paramref name="kernel"/> with the given specialization constants (ids 0, 1, 2, … in order).
    /// A new one is compiled by <see cref="Prepare"/> or, failing that, when its first dispatch is recorded.
    /// The lookup allocates nothing: the key is the kernel and the constants.
    /// </summary>
    public ComputePipeline Get(ShaderKernel kernel, ReadOnlySpan<int> specialization = default)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        var key = new PipelineKey(kernel, specialization);
        lock (Sync)
        {
            if (_pipelines.TryGetValue(key, out var p)) return p;
            p = new ComputePipeline(this, _device, kernel, specialization);
            _pipelines[key] = p;
            return p;
        }
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

    internal DescriptorSet AllocateSet(DescriptorSetLayout layout, int bindings)
    {
        // A pool is full at SetsPerPool sets by count, not only when the driver says so: lavapipe never refuses a set,
        // and pools should fill the same way on every driver.
        foreach (var pool in _pools)
            if (_setsInPool[pool.Handle] < SetsPerPool && TryAllocate(pool, layout, out var set)) return Track(set, pool);
        var sizes = stackalloc DescriptorPoolSize[]
        {
            new DescriptorPoolSize { Type = DescriptorType.StorageBuffer, DescriptorCount = 8192 },
            new DescriptorPoolSize { Type = DescriptorType.UniformTexelBuffer, DescriptorCount = 4096 },
        };
        var info = new DescriptorPoolCreateInfo
        {
            SType = StructureType.DescriptorPoolCreateInfo,
            Flags = DescriptorPoolCreateFlags.FreeDescriptorSetBit,
            MaxSets = SetsPerPool,
            PoolSizeCount = 2,
            PPoolSizes = sizes,
        };
        _device.Vk.CreateDescriptorPool(_device.Handle, in info, null, out var fresh).Check("vkCreateDescriptorPool");
        _pools.Add(fresh);
        _setsInPool[fresh.Handle] = 0;
        if (!TryAllocate(fresh, layout, out var s)) throw new VulkanException("vkAllocateDescriptorSets failed on a fresh pool");
        return Track(s, fresh);
    }

    private DescriptorSet Track(DescriptorSet set, DescriptorPool pool)
    {
        _poolOfSet[set.Handle] = pool;
        _setsInPool[pool.Handle]++;
        return set;
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
        if (!_poolOfSet.Remove(set.Handle, out var pool))
            throw new InvalidOperationException($"descriptor set 0x{set.Handle:X} was not allocated by this library or is already freed");
        _setsInPool[pool.Handle]--;
        _device.Vk.FreeDescriptorSets(_device.Handle, pool, 1, in set).Check("vkFreeDescriptorSets");
    }

    internal void ForgetBuffer(Buffer buffer)
    {
        lock (Sync) ForgetBufferLocked(buffer);
    }

    private void ForgetBufferLocked(Buffer buffer)
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
        lock (Sync) DisposeLocked();
    }

    private void DisposeLocked()
    {
        SaveCache();
        foreach (var p in _pipelines.Values) p.Destroy();
        _pipelines.Clear();
        foreach (var pool in _pools) _device.Vk.DestroyDescriptorPool(_device.Handle, pool, null);
        _pools.Clear();
        _poolOfSet.Clear();
        _setsInPool.Clear();
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


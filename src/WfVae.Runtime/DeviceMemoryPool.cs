using Silk.NET.Vulkan;
using Buffer = Silk.NET.Vulkan.Buffer;

namespace WfVae.Runtime;

public enum MemoryUsage
{
    /// <summary>Tensors and weights: device-local (also mapped where that memory is host-cached: CPU drivers, integrated GPUs that mark it so, such as Intel's).</summary>
    Device,
    /// <summary>Host-visible upload/readback buffers for discrete GPUs.</summary>
    Staging,
}

/// <summary>
/// Suballocates buffers from large blocks (one VkDeviceMemory + one VkBuffer each), so the engine makes a
/// handful of Vulkan allocations instead of one per tensor. Whole blocks are bound to descriptors and
/// tensors are addressed by element offsets, which keeps descriptor sets cacheable. Keeps the live and
/// peak byte counts that benchmarks and the streaming tests read. Thread-safe (sessions on several threads allocate
/// from one device).
/// </summary>
public sealed unsafe class DeviceMemoryPool : IDisposable
{
    internal const long Alignment = 256;
    private readonly VulkanDevice _device;
    private readonly List<MemoryBlock> _blocks = new();
    private readonly ulong _blockBytes;
    private readonly ulong _maxAllocation;
    private readonly bool _mapDeviceMemory;
    private readonly object _sync = new();

    internal event Action<Buffer>? BlockReleased;

    /// <summary>Bytes of live allocations (tensors, weights, caches, staging).</summary>
    public long CurrentBytes { get; private set; }
    /// <summary>Highest <see cref="CurrentBytes"/> since creation or the last <see cref="ResetPeak"/>.</summary>
    public long PeakBytes { get; private set; }
    /// <summary>Bytes of VkDeviceMemory currently held from the driver.</summary>
    public long ReservedBytes { get; private set; }
    /// <summary>
    /// Largest single allocation the device can bind to a shader (maxStorageBufferRange, within
    /// maxMemoryAllocationSize). A larger request than a block gets a block of its own: on a GPU a 1080p or 4K
    /// activation of a wide model passes the usual 256 MiB block.
    /// </summary>
    public long MaxAllocationBytes => (long)_maxAllocation;

    internal VulkanDevice Device => _device;

    internal DeviceMemoryPool(VulkanDevice device, ulong blockBytes, ulong maxAllocation, bool mapDeviceMemory)
    {
        _device = device;
        _blockBytes = Math.Min(blockBytes, maxAllocation);
        _maxAllocation = maxAllocation;
        _mapDeviceMemory = mapDeviceMemory;
    }

    /// <summary>
    /// Whether tensors live in memory the host reads and writes directly. Otherwise every upload and download is a
    /// copy through a staging buffer (<see cref="CommandRecorder.Upload"/>, <see cref="CommandRecorder.Download"/>).
    /// </summary>
    public bool MapsDeviceMemory => MapsDevice(_device.MemoryProperties.MemoryTypes[ChooseMemoryType(uint.MaxValue, MemoryUsage.Device)].PropertyFlags);

    /// <summary>Device memory is mapped only where the host reads it cached (see <see cref="ChooseMemoryType"/>).</summary>
    private bool MapsDevice(MemoryPropertyFlags flags) =>
        _mapDeviceMemory && (flags & (MemoryPropertyFlags.HostVisibleBit | MemoryPropertyFlags.HostCachedBit)) == (MemoryPropertyFlags.HostVisibleBit | MemoryPropertyFlags.HostCachedBit);

    public void ResetPeak()
    {
        lock (_sync) PeakBytes = CurrentBytes;
    }

    public DeviceAllocation Allocate(long bytes, MemoryUsage usage = MemoryUsage.Device)
    {
        _device.ThrowIfDisposed();
        if (bytes <= 0) bytes = 4;
        long size = AlignUp(bytes, Alignment);
        if ((ulong)size > _maxAllocation)
            throw new VulkanException($"An allocation of {bytes:N0} bytes exceeds the largest buffer {_device.Info.Name} can bind ({_maxAllocation:N0} bytes: maxStorageBufferRange, maxMemoryAllocationSize); process the video in smaller chunks or at a lower resolution.", Result.ErrorOutOfDeviceMemory);
        lock (_sync) return AllocateLocked(size, usage);
    }

    private DeviceAllocation AllocateLocked(long size, MemoryUsage usage)
    {
        foreach (var block in _blocks)
        {
            if (block.Usage != usage) continue;
            long offset = block.TryTake(size);
            if (offset >= 0) return Track(new DeviceAllocation(this, block, offset, size));
        }
        var fresh = CreateBlock(usage, Math.Max((ulong)size, usage == MemoryUsage.Device ? _blockBytes : (ulong)size));
        return Track(new DeviceAllocation(this, fresh, fresh.TryTake(size), size));
    }

    private DeviceAllocation Track(DeviceAllocation a)
    {
        CurrentBytes += a.Size;
        PeakBytes = Math.Max(PeakBytes, CurrentBytes);
        return a;
    }

    internal void Free(DeviceAllocation a)
    {
        lock (_sync)
        {
            a.Block.Give(a.Offset, a.Size);
            CurrentBytes -= a.Size;
            // A block made for one request larger than a block goes back at once: kept, it could serve only requests
            // as large (a growing arena slab would hold its old and new segments). Freed memory is memory no batch
            // still uses, as for any range handed out again.
            if (a.Block.IsEmpty && (ulong)a.Block.Size > _blockBytes)
            {
                Release(a.Block);
                _blocks.Remove(a.Block);
            }
        }
    }

    /// <summary>Returns empty blocks to the driver. Called between submissions, never while a batch may use them.</summary>
    public void Trim()
    {
        lock (_sync) TrimLocked();
    }

    private void TrimLocked()
    {
        for (int i = _blocks.Count - 1; i >= 0; i--)
        {
            if (!_blocks[i].IsEmpty) continue;
            Release(_blocks[i]);
            _blocks.RemoveAt(i);
        }
    }

    private MemoryBlock CreateBlock(MemoryUsage usage, ulong size)
    {
        var vk = _device.Vk;
        var info = new BufferCreateInfo
        {
            SType = StructureType.BufferCreateInfo,
            Size = size,
            // Uniform texel buffer: read-only operands may be bound as texel views of the block (BindingKind.Texels).
            Usage = BufferUsageFlags.StorageBufferBit | BufferUsageFlags.UniformTexelBufferBit | BufferUsageFlags.TransferSrcBit | BufferUsageFlags.TransferDstBit
                | (_device.DeviceAddresses ? BufferUsageFlags.ShaderDeviceAddressBit : 0),
            SharingMode = SharingMode.Exclusive,
        };
        vk.CreateBuffer(_device.Handle, in info, null, out var buffer).Check("vkCreateBuffer");
        vk.GetBufferMemoryRequirements(_device.Handle, buffer, out var req);
        int type = ChooseMemoryType(req.MemoryTypeBits, usage);
        var addressable = new MemoryAllocateFlagsInfo { SType = StructureType.MemoryAllocateFlagsInfo, Flags = MemoryAllocateFlags.DeviceAddressBit };
        var alloc = new MemoryAllocateInfo
        {
            SType = StructureType.MemoryAllocateInfo, AllocationSize = req.Size, MemoryTypeIndex = (uint)type,
            PNext = _device.DeviceAddresses ? &addressable : null,
        };
        var r = vk.AllocateMemory(_device.Handle, in alloc, null, out var memory);
        if (r == Result.ErrorOutOfDeviceMemory || r == Result.ErrorOutOfHostMemory)
        {
            vk.DestroyBuffer(_device.Handle, buffer, null);
            throw new VulkanException($"Out of device memory on {_device.Info.Name}: could not allocate a block of {req.Size:N0} bytes with {CurrentBytes:N0} bytes live ({ReservedBytes:N0} reserved).", r);
        }
        r.Check("vkAllocateMemory");
        vk.BindBufferMemory(_device.Handle, buffer, memory, 0).Check("vkBindBufferMemory");
        void* mapped = null;
        var flags = _device.MemoryProperties.MemoryTypes[type].PropertyFlags;
        if ((flags & MemoryPropertyFlags.HostVisibleBit) != 0 && (usage != MemoryUsage.Device || MapsDevice(flags)))
            vk.MapMemory(_device.Handle, memory, 0, Vk.WholeSize, 0, &mapped).Check("vkMapMemory");
        var addressInfo = new BufferDeviceAddressInfo { SType = StructureType.BufferDeviceAddressInfo, Buffer = buffer };
        ulong address = _device.DeviceAddresses ? vk.GetBufferDeviceAddress(_device.Handle, in addressInfo) : 0;
        var block = new MemoryBlock(buffer, memory, (long)size, usage, (byte*)mapped, address);
        _blocks.Add(block);
        ReservedBytes += (long)req.Size;
        return block;
    }

    private int ChooseMemoryType(uint allowed, MemoryUsage usage)
    {
        var props = _device.MemoryProperties;
        int Find(MemoryPropertyFlags want, MemoryPropertyFlags avoid = 0)
        {
            for (int i = 0; i < props.MemoryTypeCount; i++)
            {
                var f = props.MemoryTypes[i].PropertyFlags;
                if ((allowed & (1u << i)) != 0 && (f & want) == want && (f & avoid) == 0) return i;
            }
            return -1;
        }
        const MemoryPropertyFlags hostCoherent = MemoryPropertyFlags.HostVisibleBit | MemoryPropertyFlags.HostCoherentBit;
        const MemoryPropertyFlags local = MemoryPropertyFlags.DeviceLocalBit;
        // Device memory the host may also map only where it is host-cached (unified memory: CPU drivers, integrated
        // GPUs). A discrete GPU's host-visible device memory is either a 256 MiB window (too small for one block) or, with
        // resizable BAR, all of VRAM read uncached over PCIe: downloads from it crawl. There the plain device-local type
        // and staged copies win.
        int t = usage == MemoryUsage.Device
            ? FirstOf(Find(MappedDeviceType), Find(local, avoid: MemoryPropertyFlags.HostVisibleBit),
                Find(local), Find(hostCoherent))
            : FirstOf(Find(hostCoherent | MemoryPropertyFlags.HostCachedBit), Find(hostCoherent));
        if (t < 0) throw new VulkanException($"No suitable Vulkan memory type for {usage} buffers on {_device.Info.Name}.");
        return t;
    }

    /// <summary>
    /// The memory type tensors take first, and the host maps: device-local and host-cached (CPU drivers, integrated GPUs
    /// that mark it so). <see cref="PhysicalDeviceInfo.HostCachedDeviceMemory"/> reports whether a device has one.
    /// </summary>
    internal const MemoryPropertyFlags MappedDeviceType = MemoryPropertyFlags.DeviceLocalBit | MemoryPropertyFlags.HostVisibleBit
        | MemoryPropertyFlags.HostCoherentBit | MemoryPropertyFlags.HostCachedBit;

    private static int FirstOf(params int[] candidates) => candidates.FirstOrDefault(c => c >= 0, -1);

    private void Release(MemoryBlock block)
    {
        BlockReleased?.Invoke(block.Buffer);
        var vk = _device.Vk;
        if (block.Mapped != null) vk.UnmapMemory(_device.Handle, block.Memory);
        vk.DestroyBuffer(_device.Handle, block.Buffer, null);
        vk.FreeMemory(_device.Handle, block.Memory, null);
        ReservedBytes -= block.Size;
    }

    internal static long AlignUp(long v, long a) => (v + a - 1) / a * a;

    public void Dispose()
    {
        lock (_sync)
        {
            foreach (var b in _blocks) Release(b);
            _blocks.Clear();
            CurrentBytes = 0;
        }
    }
}

/// <summary>One VkDeviceMemory with its VkBuffer and a first-fit free list of byte ranges.</summary>
internal sealed unsafe class MemoryBlock
{
    public readonly Buffer Buffer;
    public readonly DeviceMemory Memory;
    public readonly long Size;
    public readonly MemoryUsage Usage;
    public readonly byte* Mapped;
    /// <summary>The buffer's device address where the device has them (VulkanDevice.DeviceAddresses), else 0.</summary>
    public readonly ulong Address;
    private readonly List<(long Offset, long Size)> _free;

    public MemoryBlock(Buffer buffer, DeviceMemory memory, long size, MemoryUsage usage, byte* mapped, ulong address)
    {
        Address = address;
        Buffer = buffer;
        Memory = memory;
        Size = size;
        Usage = usage;
        Mapped = mapped;
        _free = new() { (0, size) };
    }

    public bool IsEmpty => _free.Count == 1 && _free[0].Size == Size;

    public long TryTake(long size)
    {
        for (int i = 0; i < _free.Count; i++)
        {
            var (off, len) = _free[i];
            if (len < size) continue;
            if (len == size) _free.RemoveAt(i);
            else _free[i] = (off + size, len - size);
            return off;
        }
        return -1;
    }

    public void Give(long offset, long size)
    {
        int i = 0;
        while (i < _free.Count && _free[i].Offset < offset) i++;
        _free.Insert(i, (offset, size));
        // Coalesce with the right, then the left neighbour.
        if (i + 1 < _free.Count && _free[i].Offset + _free[i].Size == _free[i + 1].Offset)
        {
            _free[i] = (_free[i].Offset, _free[i].Size + _free[i + 1].Size);
            _free.RemoveAt(i + 1);
        }
        if (i > 0 && _free[i - 1].Offset + _free[i - 1].Size == _free[i].Offset)
        {
            _free[i - 1] = (_free[i - 1].Offset, _free[i - 1].Size + _free[i].Size);
            _free.RemoveAt(i);
        }
    }
}

/// <summary>A byte range inside a memory block. Dispose returns it to the pool.</summary>
public sealed unsafe class DeviceAllocation : IDisposable
{
    private readonly DeviceMemoryPool _pool;
    internal readonly MemoryBlock Block;
    /// <summary>Byte offset inside the block's VkBuffer.</summary>
    public long Offset { get; }
    public long Size { get; }
    public bool Disposed { get; private set; }

    internal DeviceAllocation(DeviceMemoryPool pool, MemoryBlock block, long offset, long size)
    {
        _pool = pool;
        Block = block;
        Offset = offset;
        Size = size;
    }

    internal Buffer Buffer => Block.Buffer;
    /// <summary>The device this memory belongs to.</summary>
    public VulkanDevice Device => _pool.Device;
    /// <summary>True when the host can read and write the memory directly (unified memory, CPU devices, staging).</summary>
    public bool HostVisible => Block.Mapped != null;
    internal byte* HostPointer => Block.Mapped == null ? null : Block.Mapped + Offset;

    public void Dispose()
    {
        if (Disposed) return;
        Disposed = true;
        _pool.Free(this);
    }
}

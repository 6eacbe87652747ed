namespace WfVae.Runtime;

/// <summary>
/// Hands out intermediate tensors and takes them back for reuse, so a graph run (or every chunk of a
/// stream) allocates device memory once and then recycles it. Best fit by size; nothing is returned to
/// the pool until the arena is disposed.
/// </summary>
public sealed class TensorArena : IDisposable
{
    private readonly VulkanDevice _device;
    private readonly List<DeviceAllocation> _free = new();
    private readonly HashSet<DeviceAllocation> _all = new();

    public TensorArena(VulkanDevice device) => _device = device;

    /// <summary>Device bytes held by this arena, in use or free.</summary>
    public long HeldBytes => _all.Sum(a => a.Size);

    public GpuTensor Rent(int c, int t, int h, int w, int elementBytes = 4)
    {
        long bytes = Math.Max(1L, (long)c * t * h * w) * elementBytes;
        int best = -1;
        for (int i = 0; i < _free.Count; i++)
            if (_free[i].Size >= bytes && (best < 0 || _free[i].Size < _free[best].Size)) best = i;
        DeviceAllocation storage;
        if (best >= 0 && _free[best].Size <= 2 * DeviceMemoryPool.AlignUp(bytes, DeviceMemoryPool.Alignment))
        {
            storage = _free[best];
            _free.RemoveAt(best);
        }
        else
        {
            storage = _device.Memory.Allocate(bytes);
            _all.Add(storage);
        }
        return new GpuTensor(storage, 0, c, t, h, w, (long)c * h * w, elementBytes, owner: false);
    }

    /// <summary>Gives a rented tensor's memory back for reuse; the tensor must not be used afterwards.</summary>
    public void Return(GpuTensor? tensor)
    {
        if (tensor == null) return;
        if (!_all.Contains(tensor.Storage) || _free.Contains(tensor.Storage)) return;
        _free.Add(tensor.Storage);
    }

    public void Dispose()
    {
        foreach (var a in _all) a.Dispose();
        _all.Clear();
        _free.Clear();
    }
}

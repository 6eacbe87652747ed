using WfVae.Runtime;

namespace WfVae.Model.Layers;

/// <summary>
/// Everything one stream remembers between pushes: one slot per stateful layer of the graph (causal caches, the
/// unpaired Haar frame, the time upsampler's previous frame, the decoder's frame queue), created on the layer's
/// first push, and the device tensors they hold. Layers keep only weights and shapes, so any number of streams can
/// run on one model at once; a new stream is a new state, and disposing the state frees what the stream held.
/// </summary>
public sealed class StreamState : IDisposable
{
    private readonly object?[] _slots;
    private readonly HashSet<GpuTensor> _tensors = new();
    private readonly VulkanDevice _device;

    public StreamState(VulkanDevice device, int slots)
    {
        _device = device;
        _slots = new object?[slots];
    }

    /// <summary>Device bytes of the tensors the state holds now.</summary>
    public long DeviceBytes { get; private set; }

    /// <summary>The state of the layer owning <paramref name="slot"/>, created empty on first use.</summary>
    public T Slot<T>(int slot) where T : class, new() => (T)(_slots[slot] ??= new T());

    /// <summary>A device tensor held by this stream until <see cref="Release"/> or disposal.</summary>
    public GpuTensor CreateTensor(int c, int t, int h, int w, Precision precision)
    {
        var tensor = _device.CreateTensor(c, t, h, w, precision);
        _tensors.Add(tensor);
        DeviceBytes += tensor.Storage.Size;
        return tensor;
    }

    /// <summary>Stops holding <paramref name="tensor"/>; the caller disposes it once no recorded command uses it.</summary>
    public void Release(GpuTensor? tensor)
    {
        if (tensor != null && _tensors.Remove(tensor)) DeviceBytes -= tensor.Storage.Size;
    }

    public void Dispose()
    {
        foreach (var t in _tensors) t.Dispose();
        _tensors.Clear();
        Array.Clear(_slots);
        DeviceBytes = 0;
    }
}

/// <summary>Numbers the stateful layers of a graph while it is built: each takes the next slot of <see cref="StreamState"/>.</summary>
public sealed class StateLayout
{
    /// <summary>Slots handed out so far: the size of a state for this graph.</summary>
    public int Count { get; private set; }

    public int Next() => Count++;
}

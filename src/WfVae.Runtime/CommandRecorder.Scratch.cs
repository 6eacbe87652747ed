namespace WfVae.Runtime;

public sealed unsafe partial class CommandRecorder
{
    private readonly Dictionary<int, GpuTensor> _scratch = new();
    private readonly List<GpuTensor> _retiredScratch = new();

    /// <summary>Device bytes held by this recorder's scratch buffers (<see cref="Scratch"/>), replaced ones included until released.</summary>
    public long ScratchBytes { get; private set; }

    /// <summary>
    /// A float32 buffer of at least <paramref name="elements"/> elements that this recorder owns, for operators that
    /// stage intermediate results between their own dispatches (e.g. the transformed tiles of a Winograd convolution).
    /// Every request with the same <paramref name="slot"/> gets the same buffer, so its memory is bounded by the largest
    /// request rather than by the work recorded; dispatches that reuse it are ordered by the recorder's hazard tracking
    /// like any other. A larger request replaces the buffer (the old one is released after the next submission, as
    /// commands recorded before may still use it). Released when the recorder is disposed.
    /// </summary>
    public GpuTensor Scratch(int slot, long elements)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(elements);
        if (elements > int.MaxValue) throw new ArgumentOutOfRangeException(nameof(elements), $"scratch of {elements} elements is too large");
        if (_scratch.TryGetValue(slot, out var held) && held.W >= elements) return held;
        if (held != null) _retiredScratch.Add(held);
        var fresh = _device.CreateTensor(1, 1, 1, (int)elements);
        _scratch[slot] = fresh;
        ScratchBytes += elements * 4L;
        return fresh;
    }

    private void ReleaseRetiredScratch()
    {
        foreach (var t in _retiredScratch)
        {
            ScratchBytes -= t.W * 4L;
            t.Dispose();
        }
        _retiredScratch.Clear();
    }

    private void DisposeScratch()
    {
        ReleaseRetiredScratch();
        foreach (var t in _scratch.Values) t.Dispose();
        _scratch.Clear();
        ScratchBytes = 0;
    }
}

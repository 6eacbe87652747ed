namespace WfVae.Runtime;

/// <summary>
/// A [T, C, H, W] view of device memory, frame-major: frames are <see cref="FrameStride"/> elements apart,
/// channels of one frame are H·W apart. Frame-major storage makes a chunk of frames, a cached tail of
/// frames and a channel slice (same frame stride, shifted offset) all plain views without copies.
/// </summary>
public sealed class GpuTensor : IDisposable
{
    public DeviceAllocation Storage { get; }
    /// <summary>First element of the view inside <see cref="Storage"/>.</summary>
    public long Offset { get; }
    public int C { get; }
    public int T { get; }
    public int H { get; }
    public int W { get; }
    /// <summary>Elements between the starts of consecutive frames (C·H·W for a dense tensor).</summary>
    public long FrameStride { get; }
    public int ElementBytes { get; }
    /// <summary>fp32 (4-byte elements) or fp16 (2-byte elements): selects the shader variant that reads this tensor.</summary>
    public Precision Precision => PrecisionInfo.FromElementBytes(ElementBytes);
    private readonly bool _owner;
    /// <summary>Whether this tensor owns its allocation (bytes past its last element are padding no other view uses).</summary>
    internal bool IsOwner => _owner;

    internal GpuTensor(DeviceAllocation storage, long offset, int c, int t, int h, int w, long frameStride, int elementBytes, bool owner)
    {
        Storage = storage;
        Offset = offset;
        C = c;
        T = t;
        H = h;
        W = w;
        FrameStride = frameStride;
        ElementBytes = elementBytes;
        _owner = owner;
    }

    public long Plane => (long)H * W;
    public long FrameElements => C * Plane;
    public long ElementCount => T * FrameElements;
    public bool IsDense => FrameStride == FrameElements || T <= 1;
    public string Shape => $"[T={T}, C={C}, H={H}, W={W}]";

    /// <summary>
    /// Whether every 4 consecutive elements of a channel row from a multiple of 4 lie in one frame and start a vec4 of
    /// the block (base element, frame stride and H·W multiples of 4): the layout kernels that read or store 4 positions
    /// at a time need.
    /// </summary>
    public bool Vec4Aligned => BaseElement % 4 == 0 && FrameStride % 4 == 0 && Plane % 4 == 0;

    /// <summary>
    /// Device address of the memory block that holds the view (element 0 of <see cref="BaseElement"/>'s count), for
    /// kernels reading through addresses; 0 where the device has none (<see cref="VulkanDevice.DeviceAddresses"/>).
    /// </summary>
    public ulong BlockAddress => Storage.Block.Address;

    /// <summary>Index of the view's first element in the whole memory block, as shaders address it.</summary>
    public uint BaseElement => checked((uint)(Storage.Offset / ElementBytes + Offset));

    /// <summary>Bytes from the block start of the first to one past the last element the view covers.</summary>
    internal (long Start, long End) ByteRange
    {
        get
        {
            long first = Storage.Offset + Offset * ElementBytes;
            long span = T == 0 ? 0 : ((T - 1) * FrameStride + FrameElements) * ElementBytes;
            return (first, first + span);
        }
    }

    public GpuTensor Channels(int start, int count)
    {
        if (start < 0 || count < 0 || start + count > C)
            throw new ArgumentOutOfRangeException(nameof(start), $"channels {start}..{start + count} outside {Shape}");
        return Derive(DerivedKind.Channels, start, count) ??
            Remember(DerivedKind.Channels, start, count, new GpuTensor(Storage, Offset + start * Plane, count, T, H, W, FrameStride, ElementBytes, false));
    }

    public GpuTensor Frames(int start, int count)
    {
        if (start < 0 || count < 0 || start + count > T)
            throw new ArgumentOutOfRangeException(nameof(start), $"frames {start}..{start + count} outside {Shape}");
        return Derive(DerivedKind.Frames, start, count) ??
            Remember(DerivedKind.Frames, start, count, new GpuTensor(Storage, Offset + start * FrameStride, C, count, H, W, FrameStride, ElementBytes, false));
    }

    /// <summary>The same memory seen with another frame count (for buffers sized for the largest chunk).</summary>
    public GpuTensor WithFrames(int count)
    {
        if (count > T && !(_owner && Storage.Size >= (Offset + count * FrameStride) * ElementBytes))
            throw new ArgumentOutOfRangeException(nameof(count), $"{count} frames exceed {Shape}");
        return Derive(DerivedKind.WithFrames, 0, count) ??
            Remember(DerivedKind.WithFrames, 0, count, new GpuTensor(Storage, Offset, C, count, H, W, FrameStride, ElementBytes, false));
    }

    // The views derived last. A view is immutable, so asking again for the same slice may return the same object;
    // the arena hands out the same tensor objects push after push (TensorArena), so a stream's steady-state pushes
    // slice without allocating. Entries are immutable and replaced whole: safe to race on from several threads.
    private enum DerivedKind { Channels, Frames, WithFrames }
    private sealed record Derived(DerivedKind Kind, int Start, int Count, GpuTensor View);
    private const int DerivedSlots = 4;
    private Derived?[]? _derived;
    private int _nextDerived;

    private GpuTensor? Derive(DerivedKind kind, int start, int count)
    {
        if (_derived is not { } slots) return null;
        foreach (var d in slots)
            if (d != null && d.Kind == kind && d.Start == start && d.Count == count) return d.View;
        return null;
    }

    private GpuTensor Remember(DerivedKind kind, int start, int count, GpuTensor view)
    {
        var slots = _derived ??= new Derived?[DerivedSlots];
        int i = _nextDerived;
        _nextDerived = (i + 1) % DerivedSlots;
        slots[i] = new Derived(kind, start, count, view);
        return view;
    }

    public bool SameShape(GpuTensor o) => o.C == C && o.T == T && o.H == H && o.W == W;

    public void Dispose()
    {
        if (_owner) Storage.Dispose();
    }

    public override string ToString() => Shape;
}

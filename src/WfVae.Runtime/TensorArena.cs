namespace WfVae.Runtime;

/// <summary>
/// Hands out intermediate tensors and takes them back for reuse, with a memory plan from tensor lifetimes.
/// <para>
/// A graph run is bracketed by <see cref="BeginPass"/> / <see cref="EndPass"/> (one stream push). The arena
/// records every rent and return of the pass; at its end it plans that sequence: tensors sorted by size,
/// each put at the lowest offset of one slab where it overlaps no tensor live at the same time (greedy
/// interval packing, first fit). The slab is sized for the largest plan seen. A later pass with the same
/// rent sequence (every chunk of a stream after the first few) gets every tensor at its planned offset, so
/// activation memory approaches the largest set of simultaneously live tensors and does not grow.
/// </para>
/// <para>
/// Plans are only hints: a rent is placed at its planned offset only when that range overlaps no live
/// tensor, else first fit among the live tensors in the slab, else in "spill" memory (the only memory of a
/// pass without a slab yet, freed when the pass ends), whose free ranges are split and merged by best fit. So a pass that differs from its plan
/// stays correct and merely is planned again. The slab is split into segments no larger than the device's
/// largest bindable buffer, and no tensor crosses a segment end. Memory reused inside one recorded batch
/// is ordered by the recorder's hazard barriers (it tracks byte ranges).
/// </para>
/// Outside a pass the arena only recycles spill buffers by best fit and frees nothing until disposed.
/// </summary>
public sealed class TensorArena : IDisposable
{
    private const int MaxPlans = 8;
    private readonly VulkanDevice _device;
    private readonly long _segmentBytes;

    // The slab: virtual byte v lives in segment v / _segmentBytes at v % _segmentBytes.
    private readonly List<DeviceAllocation> _slab = new();
    private long _slabBytes;
    private readonly List<(long Start, long End)> _liveInSlab = new();

    // Spill buffers: outside the slab. Inside a pass their free byte ranges are split and merged (best fit), so a
    // large intermediate's memory serves several smaller later ones; outside a pass whole buffers are recycled.
    private readonly List<DeviceAllocation> _spillFree = new();
    private readonly HashSet<DeviceAllocation> _spillAll = new();
    private readonly List<(DeviceAllocation Buffer, long Start, long Bytes)> _spillRanges = new();

    // The pass being recorded: one entry per rent, lifetimes in events (each rent and return is one event).
    private readonly List<(long Bytes, int Start, int End)> _pass = new();
    private readonly Dictionary<(DeviceAllocation Storage, long Byte), (int Index, long SlabStart)> _out = new();
    private int _clock;
    private bool _inPass;
    private bool _dry;
    private DeviceAllocation? _dryStorage;
    private MemoryPlan? _following;
    private bool _offPlan;
    private readonly List<MemoryPlan> _plans = new(); // most recently used first

    // Slab views handed out before, by place and shape: a steady-state push rents the same tensors at the same places,
    // so it gets the same (immutable) view objects and allocates nothing. Cleared with the slab it points into.
    private readonly record struct ViewKey(DeviceAllocation Segment, long Byte, int C, int T, int H, int W, int ElementBytes);
    private readonly Dictionary<ViewKey, GpuTensor> _views = new();
    private const int MaxViews = 4096;

    public TensorArena(VulkanDevice device)
    {
        _device = device;
        _segmentBytes = device.Memory.MaxAllocationBytes;
    }

    /// <summary>Device bytes held by this arena (slab and spill buffers), in use or free.</summary>
    public long HeldBytes => _slabBytes + SpillBytes;
    /// <summary>Bytes of the planned slab (0 before the first pass ends).</summary>
    public long SlabBytes => _slabBytes;
    /// <summary>The most this arena held at the end of a pass (its slab plus that pass's spill buffers), or after growing its slab.</summary>
    public long PeakHeldBytes { get; private set; }
    /// <summary>Passes whose rents all got their planned offsets.</summary>
    public int PlannedPasses { get; private set; }
    /// <summary>Passes ended so far.</summary>
    public int Passes { get; private set; }
    /// <summary>Spill bytes the last pass needed (memory outside the slab, freed at its end; 0 when it followed a plan).</summary>
    public long LastPassSpillBytes { get; private set; }
    /// <summary>The plan with the largest live set among the plans kept, or null before the first pass ends.</summary>
    public MemoryPlan? LargestPlan
    {
        get
        {
            MemoryPlan? largest = null;
            foreach (var p in _plans)
                if (largest == null || p.LiveSetBytes > largest.LiveSetBytes) largest = p;
            return largest;
        }
    }

    // Loops rather than LINQ here and below: the arena runs on every push, which allocates nothing in steady state.
    private long SpillBytes
    {
        get
        {
            long sum = 0;
            foreach (var a in _spillAll) sum += a.Size;
            return sum;
        }
    }

    public GpuTensor Rent(int c, int t, int h, int w, int elementBytes = 4)
    {
        long bytes = DeviceMemoryPool.AlignUp(Math.Max(1L, (long)c * t * h * w) * elementBytes, DeviceMemoryPool.Alignment);
        if (!_inPass) return View(Spill(bytes), 0, c, t, h, w, elementBytes);

        int index = _pass.Count;
        _pass.Add((bytes, _clock++, -1));
        if (_dry)
        {
            // No memory: every tensor of a dry pass is a distinct view of one small allocation that nothing reads.
            _dryStorage ??= _device.Memory.Allocate(DeviceMemoryPool.Alignment);
            long fake = (long)index * DeviceMemoryPool.Alignment;
            _out[(_dryStorage, fake)] = (index, -2);
            return View(_dryStorage, fake, c, t, h, w, elementBytes);
        }
        if (index == 0) _following = PlanStartingWith(bytes);
        long at = -1;
        if (_following is { } plan && index < plan.Sizes.Length && plan.Sizes[index] == bytes && plan.Offsets[index] + bytes <= _slabBytes
            && !OverlapsLive(plan.Offsets[index], bytes))
            at = plan.Offsets[index];
        else
        {
            _offPlan = true;
            at = FirstFitInSlab(bytes);
        }
        if (at < 0)
        {
            var (spill, offset) = SpillRange(bytes);
            _out[(spill, offset)] = (index, -1);
            return View(spill, offset, c, t, h, w, elementBytes);
        }
        _liveInSlab.Add((at, at + bytes));
        var segment = _slab[(int)(at / _segmentBytes)];
        long local = at % _segmentBytes;
        _out[(segment, local)] = (index, at);
        return SlabView(segment, local, c, t, h, w, elementBytes);
    }

    /// <summary>Gives a rented tensor's memory back for reuse; the tensor must not be used afterwards.</summary>
    public void Return(GpuTensor? tensor)
    {
        if (tensor == null) return;
        long byteStart = tensor.Offset * tensor.ElementBytes;
        if (_out.Remove((tensor.Storage, byteStart), out var rent))
        {
            _pass[rent.Index] = _pass[rent.Index] with { End = _clock++ };
            if (rent.SlabStart >= 0) RemoveLive(rent.SlabStart);
            else if (rent.SlabStart == -1) FreeRange(tensor.Storage, byteStart, _pass[rent.Index].Bytes);
            return;
        }
        // Outside a pass: a spill buffer comes back whole (as before passes existed).
        if (!_inPass && byteStart == 0 && _spillAll.Contains(tensor.Storage) && !_spillFree.Contains(tensor.Storage))
            _spillFree.Add(tensor.Storage);
    }

    /// <summary>Starts recording a graph run (one push); tensors rented until <see cref="EndPass"/> are planned.</summary>
    public void BeginPass() => Begin(dry: false);

    /// <summary>
    /// Starts a dry pass: rents get views that own no memory (record with a discarding recorder,
    /// <see cref="CommandRecorder.Discarding"/>), and <see cref="EndPass"/> plans them and sizes the slab, so the real
    /// pass that follows with the same rents finds its plan at once: a whole clip or a stream's first push then needs
    /// the live set, not what an online allocator would grow to.
    /// </summary>
    public void BeginDryPass() => Begin(dry: true);

    /// <summary>Whether the arena has a plan starting with a rent of <paramref name="bytes"/> (the graph's input).</summary>
    public bool HasPlanFor(long bytes)
    {
        return PlanStartingWith(DeviceMemoryPool.AlignUp(Math.Max(1L, bytes), DeviceMemoryPool.Alignment)) != null;
    }

    /// <summary>The most recently used plan whose first rent is <paramref name="bytes"/>, or null.</summary>
    private MemoryPlan? PlanStartingWith(long bytes)
    {
        foreach (var p in _plans)
            if (p.Sizes.Length > 0 && p.Sizes[0] == bytes) return p;
        return null;
    }

    private void RemoveLive(long start)
    {
        for (int i = _liveInSlab.Count - 1; i >= 0; i--)
            if (_liveInSlab[i].Start == start) _liveInSlab.RemoveAt(i);
    }

    private void Begin(bool dry)
    {
        if (_inPass) throw new InvalidOperationException("a pass is already open on this arena");
        _inPass = true;
        _dry = dry;
        _pass.Clear();
        _clock = 0;
        _following = null;
        _offPlan = false;
    }

    /// <summary>
    /// Ends the pass once its recorded commands have run (after the submission completed): plans the pass,
    /// grows the slab to the largest plan and frees the spill buffers. Every tensor of the pass must be back.
    /// </summary>
    public void EndPass()
    {
        if (!_inPass) throw new InvalidOperationException("no pass is open on this arena");
        _inPass = false;
        if (_out.Count > 0)
        {
            var leaked = string.Join(", ", _out.Values.Select(r => $"#{r.Index} ({_pass[r.Index].Bytes} bytes)"));
            _out.Clear();
            _liveInSlab.Clear();
            throw new InvalidOperationException($"tensors rented in this pass were never returned: {leaked}");
        }
        bool dry = _dry;
        _dry = false;
        if (!dry) Passes++;
        _dryStorage?.Dispose(); // a dry pass's views own nothing and are gone with it
        _dryStorage = null;
        PeakHeldBytes = Math.Max(PeakHeldBytes, HeldBytes);
        LastPassSpillBytes = SpillBytes;
        foreach (var a in _spillAll) a.Dispose();
        _spillAll.Clear();
        _spillFree.Clear();
        _spillRanges.Clear();
        if (_pass.Count == 0) return;

        bool followed = !dry && !_offPlan && _following != null && _following.Sizes.Length == _pass.Count;
        if (followed)
        {
            PlannedPasses++;
            _plans.Remove(_following!);
            _plans.Insert(0, _following!);
        }
        else
        {
            var plan = MemoryPlan.Build(_pass, _segmentBytes);
            _plans.RemoveAll(p => p.Sizes.AsSpan().SequenceEqual(plan.Sizes));
            _plans.Insert(0, plan);
            if (_plans.Count > MaxPlans) _plans.RemoveAt(_plans.Count - 1);
        }
        long need = 0;
        foreach (var p in _plans) need = Math.Max(need, p.SlabBytes);
        if (need > _slabBytes) Reserve(need);
        PeakHeldBytes = Math.Max(PeakHeldBytes, HeldBytes);
    }

    /// <summary>Replaces the slab with one of <paramref name="bytes"/> (only between passes: nothing may use it).</summary>
    private void Reserve(long bytes)
    {
        foreach (var s in _slab) s.Dispose();
        _slab.Clear();
        _views.Clear();
        _slabBytes = 0;
        for (long left = bytes; left > 0; left -= _segmentBytes)
            _slab.Add(_device.Memory.Allocate(Math.Min(left, _segmentBytes)));
        _slabBytes = bytes;
    }

    private bool OverlapsLive(long start, long bytes)
    {
        foreach (var r in _liveInSlab)
            if (start < r.End && r.Start < start + bytes) return true;
        return false;
    }

    /// <summary>The lowest slab offset where <paramref name="bytes"/> fits between live tensors inside one segment, or −1.</summary>
    private long FirstFitInSlab(long bytes)
    {
        if (_slabBytes == 0) return -1;
        long at = 0;
        foreach (var r in _liveInSlab.OrderBy(r => r.Start))
        {
            at = MemoryPlan.SegmentFit(at, bytes, _segmentBytes);
            if (at + bytes <= r.Start) break;
            at = Math.Max(at, r.End);
        }
        at = MemoryPlan.SegmentFit(at, bytes, _segmentBytes);
        return at + bytes <= _slabBytes ? at : -1;
    }

    /// <summary>Spill memory inside a pass: the best-fitting free range of a spill buffer, split, or a new buffer.</summary>
    private (DeviceAllocation Buffer, long Offset) SpillRange(long bytes)
    {
        int best = -1;
        for (int i = 0; i < _spillRanges.Count; i++)
            if (_spillRanges[i].Bytes >= bytes && (best < 0 || _spillRanges[i].Bytes < _spillRanges[best].Bytes)) best = i;
        if (best >= 0)
        {
            var r = _spillRanges[best];
            if (r.Bytes == bytes) _spillRanges.RemoveAt(best);
            else _spillRanges[best] = (r.Buffer, r.Start + bytes, r.Bytes - bytes);
            return (r.Buffer, r.Start);
        }
        var fresh = _device.Memory.Allocate(bytes);
        _spillAll.Add(fresh);
        return (fresh, 0);
    }

    /// <summary>Gives a spill range back, merged with the free ranges next to it in the same buffer.</summary>
    private void FreeRange(DeviceAllocation buffer, long start, long bytes)
    {
        long end = start + bytes;
        for (int i = _spillRanges.Count - 1; i >= 0; i--)
        {
            var r = _spillRanges[i];
            if (r.Buffer != buffer || (r.Start + r.Bytes != start && r.Start != end)) continue;
            start = Math.Min(start, r.Start);
            end = Math.Max(end, r.Start + r.Bytes);
            _spillRanges.RemoveAt(i);
        }
        _spillRanges.Add((buffer, start, end - start));
    }

    private DeviceAllocation Spill(long bytes)
    {
        int best = -1;
        for (int i = 0; i < _spillFree.Count; i++)
            if (_spillFree[i].Size >= bytes && (best < 0 || _spillFree[i].Size < _spillFree[best].Size)) best = i;
        if (best >= 0 && _spillFree[best].Size <= 2 * bytes)
        {
            var reused = _spillFree[best];
            _spillFree.RemoveAt(best);
            return reused;
        }
        var fresh = _device.Memory.Allocate(bytes);
        _spillAll.Add(fresh);
        return fresh;
    }

    private GpuTensor SlabView(DeviceAllocation segment, long byteOffset, int c, int t, int h, int w, int elementBytes)
    {
        var key = new ViewKey(segment, byteOffset, c, t, h, w, elementBytes);
        if (_views.TryGetValue(key, out var view)) return view;
        if (_views.Count >= MaxViews) _views.Clear(); // a stream whose shapes keep changing: forget, never grow
        return _views[key] = View(segment, byteOffset, c, t, h, w, elementBytes);
    }

    private static GpuTensor View(DeviceAllocation storage, long byteOffset, int c, int t, int h, int w, int elementBytes) =>
        new(storage, byteOffset / elementBytes, c, t, h, w, (long)c * h * w, elementBytes, owner: false);

    public void Dispose()
    {
        _dryStorage?.Dispose();
        _dryStorage = null;
        foreach (var a in _slab) a.Dispose();
        foreach (var a in _spillAll) a.Dispose();
        _slab.Clear();
        _spillAll.Clear();
        _spillFree.Clear();
        _spillRanges.Clear();
        _liveInSlab.Clear();
        _out.Clear();
        _views.Clear();
        _slabBytes = 0;
    }
}

namespace WfVae.Runtime;

/// <summary>
/// Offsets for the tensors of one recorded graph run, from their lifetimes: tensors sorted by size (largest
/// first, ties by first use), each placed at the lowest offset where it overlaps no already placed tensor
/// whose lifetime intersects its own, never across a segment end. Also the lower bounds any placement
/// has: the largest set of simultaneously live tensors and the largest two of them.
/// </summary>
public sealed class MemoryPlan
{
    /// <summary>Bytes of the n-th rent of the run (aligned to <see cref="DeviceMemoryPool"/>'s alignment).</summary>
    public long[] Sizes { get; }
    /// <summary>Slab offset of the n-th rent.</summary>
    public long[] Offsets { get; }
    /// <summary>Bytes the slab needs for this plan (the end of the highest placed tensor).</summary>
    public long SlabBytes { get; }
    /// <summary>Largest sum of tensor sizes live at one moment: no placement can use less.</summary>
    public long LiveSetBytes { get; }
    /// <summary>The two largest tensors live at the same moment (largest sum), largest first.</summary>
    public (long First, long Second) LargestPair { get; }

    private MemoryPlan(long[] sizes, long[] offsets, long slab, long liveSet, (long, long) pair)
    {
        Sizes = sizes;
        Offsets = offsets;
        SlabBytes = slab;
        LiveSetBytes = liveSet;
        LargestPair = pair;
    }

    /// <summary>Plans tensors given as (bytes, first event, last event + 1); slab segments hold at most <paramref name="segmentBytes"/>.</summary>
    public static MemoryPlan Build(IReadOnlyList<(long Bytes, int Start, int End)> tensors, long segmentBytes)
    {
        int n = tensors.Count;
        var sizes = tensors.Select(t => t.Bytes).ToArray();
        var offsets = new long[n];
        var order = Enumerable.Range(0, n).OrderByDescending(i => tensors[i].Bytes).ThenBy(i => tensors[i].Start).ToArray();
        var placed = new List<int>();
        long slab = 0;
        foreach (int i in order)
        {
            var (bytes, s, e) = tensors[i];
            // The ranges of placed tensors that live at the same time, lowest first; take the first gap.
            var busy = placed.Where(j => tensors[j].Start < e && s < tensors[j].End)
                .Select(j => (Start: offsets[j], End: offsets[j] + tensors[j].Bytes)).OrderBy(r => r.Start);
            long at = 0;
            foreach (var r in busy)
            {
                at = SegmentFit(at, bytes, segmentBytes);
                if (at + bytes <= r.Start) break;
                at = Math.Max(at, r.End);
            }
            at = SegmentFit(at, bytes, segmentBytes);
            offsets[i] = at;
            placed.Add(i);
            slab = Math.Max(slab, at + bytes);
        }
        return new MemoryPlan(sizes, offsets, slab, LiveSet(tensors), LargestLivePair(tensors));
    }

    /// <summary><paramref name="at"/>, or the next segment start when [at, at + bytes) would cross a segment end.</summary>
    internal static long SegmentFit(long at, long bytes, long segmentBytes) =>
        at / segmentBytes == (at + bytes - 1) / segmentBytes ? at : (at / segmentBytes + 1) * segmentBytes;

    private static long LiveSet(IReadOnlyList<(long Bytes, int Start, int End)> tensors)
    {
        // Sweep the events: +bytes at a rent, −bytes at its return (events are distinct clock ticks).
        var events = tensors.SelectMany(t => new[] { (At: t.Start, Delta: t.Bytes), (At: t.End, Delta: -t.Bytes) }).OrderBy(e => e.At);
        long live = 0, max = 0;
        foreach (var (_, delta) in events)
        {
            live += delta;
            max = Math.Max(max, live);
        }
        return max;
    }

    private static (long, long) LargestLivePair(IReadOnlyList<(long Bytes, int Start, int End)> tensors)
    {
        (long, long) best = (tensors.Count > 0 ? tensors.Max(t => t.Bytes) : 0, 0);
        for (int i = 0; i < tensors.Count; i++)
            for (int j = i + 1; j < tensors.Count; j++)
            {
                var (a, b) = (tensors[i], tensors[j]);
                if (a.Start < b.End && b.Start < a.End && a.Bytes + b.Bytes > best.Item1 + best.Item2)
                    best = (Math.Max(a.Bytes, b.Bytes), Math.Min(a.Bytes, b.Bytes));
            }
        return best;
    }
}

using WfVae.Runtime;

namespace WfVae.Model.Layers;

/// <summary>
/// What a layer needs while it records one push: the recorder every dispatch goes into, the arena that
/// intermediate tensors are rented from and returned to, and the stream's state (what the layers remember
/// between pushes).
/// </summary>
public sealed class StreamContext
{
    public VulkanDevice Device { get; }
    public CommandRecorder Rec { get; }
    public TensorArena Arena { get; }
    /// <summary>Storage precision of every activation and cache of this stream.</summary>
    public Precision Precision { get; }
    /// <summary>The stream's state between pushes.</summary>
    public StreamState State { get; }
    /// <summary>
    /// This push ends the stream: no later push reads what the layers keep for it, so the causal convs skip
    /// updating their caches (on lavapipe those copies were 3% of a whole-clip decode).
    /// </summary>
    public bool StreamEnds { get; set; }

    public StreamContext(VulkanDevice device, CommandRecorder rec, TensorArena arena, Precision precision, StreamState state)
    {
        Device = device;
        Rec = rec;
        Arena = arena;
        Precision = precision;
        State = state;
    }

    public GpuTensor Rent(int c, int t, int h, int w) => Arena.Rent(c, t, h, w, Precision.ElementBytes());

    private readonly List<IDisposable> _afterSubmit = new();

    public void Return(params ReadOnlySpan<GpuTensor?> tensors)
    {
        foreach (var t in tensors) Arena.Return(t);
    }

    /// <summary>Returns <paramref name="old"/> now that <paramref name="next"/> replaces it, and taps <paramref name="next"/>.</summary>
    public GpuTensor Replace(GpuTensor old, GpuTensor next, ITapSink? taps, string tapName)
    {
        Arena.Return(old);
        taps?.Tap(this, tapName, next);
        return next;
    }

    /// <summary>As <see cref="Replace(GpuTensor, GpuTensor, ITapSink?, string)"/> with the tap "prefix.index", a name built only when tapped.</summary>
    public GpuTensor Replace(GpuTensor old, GpuTensor next, ITapSink? taps, string tapPrefix, int index)
    {
        Arena.Return(old);
        taps?.Tap(this, $"{tapPrefix}.{index}", next);
        return next;
    }

    /// <summary>
    /// Pushes <paramref name="x"/> through <paramref name="blocks"/> in order (taps "prefix.i"), returning each
    /// intermediate to the arena. <paramref name="x"/> itself, often a channel slice of a larger tensor, stays
    /// with its owner; the result is x when there are no blocks.
    /// </summary>
    public GpuTensor Chain(GpuTensor x, IReadOnlyList<ResnetBlock> blocks, ITapSink? taps, string tapPrefix)
    {
        var h = x;
        for (int i = 0; i < blocks.Count; i++)
        {
            var next = blocks[i].Push(this, h);
            if (i > 0) Arena.Return(h);
            h = next;
            taps?.Tap(this, $"{tapPrefix}.{i}", h);
        }
        return h;
    }

    /// <summary>Disposes <paramref name="d"/> once the recorded commands that may use it have run.</summary>
    public void DisposeAfterSubmit(IDisposable? d)
    {
        if (d != null) _afterSubmit.Add(d);
    }

    /// <summary>Submits the recorded batch, waits for it, then releases what waited for it.</summary>
    public void Submit()
    {
        Rec.Submit();
        ReleaseDeferred();
    }

    /// <summary>
    /// Releases what <see cref="DisposeAfterSubmit"/> holds without submitting: for a push that failed before its
    /// submission, once its recorded commands can no longer run (a dry run records none; a session's recorder is disposed).
    /// </summary>
    internal void ReleaseDeferred()
    {
        foreach (var d in _afterSubmit) d.Dispose();
        _afterSubmit.Clear();
    }
}

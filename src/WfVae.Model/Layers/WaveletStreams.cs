using WfVae.Operators;
using WfVae.Runtime;

namespace WfVae.Model.Layers;

/// <summary>
/// Forward 3D Haar as a stream: a causal kt = 2, stride-2 filter whose first window is (x0, x0). The stream keeps
/// at most one unpaired frame between pushes; an unpaired frame at the end of the stream is dropped, as in the
/// official whole-clip path.
/// </summary>
public sealed class HaarForward3DStream
{
    private readonly int _slot;
    private readonly string _cacheLabel;

    private sealed class Stream
    {
        public GpuTensor? Pending;
        public int Cached;
        public bool Started;
    }

    public string Name { get; }

    public HaarForward3DStream(WeightSource source, string name)
    {
        Name = name;
        _cacheLabel = name + ".cache";
        _slot = source.State.Next();
    }

    public int OutputFrames(StreamState state, int frames)
    {
        var s = state.Slot<Stream>(_slot);
        return frames == 0 ? 0 : ((s.Started ? s.Cached : 1) + frames) / 2;
    }

    public GpuTensor Push(StreamContext ctx, GpuTensor x, GpuTensor? into = null)
    {
        int n = OutputFrames(ctx.State, x.T);
        var y = into ?? ctx.Rent(8 * x.C, n, x.H / 2, x.W / 2);
        if (x.T == 0) return y;
        var s = ctx.State.Slot<Stream>(_slot);
        if (!s.Started)
        {
            s.Pending = ctx.State.CreateTensor(x.C, 1, x.H, x.W, x.Precision);
            ctx.Rec.Copy(x.Frames(0, 1), s.Pending, _cacheLabel);
            s.Cached = 1;
            s.Started = true;
        }
        var past = s.Cached > 0 ? s.Pending : null;
        if (n > 0) Haar.Forward3D(ctx.Rec, past, x, y);
        int virtualFrames = s.Cached + x.T;
        // An odd frame left over waits for its partner; it is always x's last frame.
        s.Cached = virtualFrames % 2;
        if (s.Cached == 1) ctx.Rec.Copy(x.Frames(x.T - 1, 1), s.Pending!, _cacheLabel);
        return y;
    }
}

/// <summary>
/// Inverse 3D Haar as a stream: every coefficient frame gives two frames, except that the very first
/// output frame of the stream is dropped. Optionally adds a branch into the low band first (Ŵ[0:3] += l).
/// </summary>
public sealed class HaarInverse3DStream
{
    private readonly int _slot;

    private sealed class Stream
    {
        public bool Started;
    }

    public HaarInverse3DStream(WeightSource source) => _slot = source.State.Next();

    public int OutputFrames(StreamState state, int frames) =>
        frames == 0 ? 0 : 2 * frames - (state.Slot<Stream>(_slot).Started ? 0 : 1);

    public GpuTensor Push(StreamContext ctx, GpuTensor x, GpuTensor? addToLowBand = null)
    {
        int n = OutputFrames(ctx.State, x.T);
        var y = ctx.Rent(x.C / 8, n, 2 * x.H, 2 * x.W);
        if (x.T == 0) return y;
        var s = ctx.State.Slot<Stream>(_slot);
        Haar.Inverse3D(ctx.Rec, x, y, dropFirst: !s.Started, addToLowBand);
        s.Started = true;
        return y;
    }
}

using WfVae.Operators;
using WfVae.Runtime;

namespace WfVae.Model.Layers;

/// <summary>
/// Forward 3D Haar as a stream: a causal kt = 2, stride-2 filter whose first window is (x0, x0). Keeps at
/// most one unpaired frame between pushes; an unpaired frame at the end of the stream is dropped, as in
/// the official whole-clip path.
/// </summary>
public sealed class HaarForward3DStream : IDisposable
{
    private GpuTensor? _pending;
    private int _cached;
    private bool _started;

    public string Name { get; }
    public HaarForward3DStream(string name) => Name = name;

    public int OutputFrames(int frames) => frames == 0 ? 0 : ((_started ? _cached : 1) + frames) / 2;

    public GpuTensor Push(StreamContext ctx, GpuTensor x, GpuTensor? into = null)
    {
        int n = OutputFrames(x.T);
        var y = into ?? ctx.Rent(8 * x.C, n, x.H / 2, x.W / 2);
        if (x.T == 0) return y;
        if (!_started)
        {
            _pending = ctx.Device.CreateTensor(x.C, 1, x.H, x.W, x.Precision);
            ctx.Rec.Copy(x.Frames(0, 1), _pending, Name + ".cache");
            _cached = 1;
            _started = true;
        }
        var past = _cached > 0 ? _pending : null;
        if (n > 0) Haar.Forward3D(ctx.Rec, past, x, y);
        int virtualFrames = _cached + x.T;
        // An odd frame left over waits for its partner; it is always x's last frame.
        _cached = virtualFrames % 2;
        if (_cached == 1) ctx.Rec.Copy(x.Frames(x.T - 1, 1), _pending!, Name + ".cache");
        return y;
    }

    public void Reset()
    {
        _pending?.Dispose();
        _pending = null;
        _cached = 0;
        _started = false;
    }

    public void Dispose() => Reset();
}

/// <summary>
/// Inverse 3D Haar as a stream: every coefficient frame gives two frames, except that the very first
/// output frame of the stream is dropped. Optionally adds a branch into the low band first (Ŵ[0:3] += l).
/// </summary>
public sealed class HaarInverse3DStream
{
    private bool _started;

    public int OutputFrames(int frames) => frames == 0 ? 0 : 2 * frames - (_started ? 0 : 1);

    public GpuTensor Push(StreamContext ctx, GpuTensor x, GpuTensor? addToLowBand = null)
    {
        int n = OutputFrames(x.T);
        var y = ctx.Rent(x.C / 8, n, 2 * x.H, 2 * x.W);
        if (x.T == 0) return y;
        Haar.Inverse3D(ctx.Rec, x, y, dropFirst: !_started, addToLowBand);
        _started = true;
        return y;
    }

    public void Reset() => _started = false;
}

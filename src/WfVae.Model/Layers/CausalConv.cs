using WfVae.Operators;
using WfVae.Runtime;

namespace WfVae.Model.Layers;

/// <summary>
/// A causal 3D convolution as a stream object (docs/model.md, "Causal streaming"): the stream keeps the last
/// input frames it still needs (kt − 1 copies of frame 0 at stream start) in a device cache that the conv shader
/// reads in place as the frames before the pushed ones. With kt = 1 it is a per-frame 2D convolution and keeps
/// nothing. Whole-clip inference is one push of every frame, so streamed and whole-clip outputs are the same
/// arithmetic. The layer holds only weights; the cache lives in the stream's <see cref="StreamState"/>.
/// </summary>
public sealed class CausalConv
{
    private readonly ConvWeights _w;
    private readonly int _st, _shw;
    private readonly ConvPadding _padding;
    private readonly int _slot;
    private readonly string _cacheLabel;

    /// <summary>What one stream keeps for this layer.</summary>
    private sealed class Stream
    {
        public GpuTensor? Cache;
        public int Cached;
        public bool Started;
    }

    public string Name { get; }
    public int Cin => _w.Cin;
    public int Cout => _w.Cout;
    public int Kt => _w.Kt;

    public CausalConv(WeightSource source, string name, ConvWeights weights, int strideT = 1, int strideHW = 1, ConvPadding padding = ConvPadding.Same)
    {
        Name = name;
        _w = weights;
        _st = strideT;
        _shw = strideHW;
        _padding = padding;
        _slot = weights.Kt > 1 ? source.State.Next() : -1;
        _cacheLabel = name + ".cache";
    }

    /// <summary>Output frames the next push of <paramref name="frames"/> input frames yields on this stream.</summary>
    public int OutputFrames(StreamState state, int frames)
    {
        if (frames == 0) return 0;
        if (Kt == 1) return Conv.OutputFrames(frames, 1, _st);
        var s = state.Slot<Stream>(_slot);
        int past = s.Started ? s.Cached : Kt - 1;
        return Conv.OutputFrames(past + frames, Kt, _st);
    }

    public (int H, int W) OutputSize(int h, int w) => _padding == ConvPadding.RightBottom
        ? (h / _shw, w / _shw)
        : ((h + 2 * (_w.Kh / 2) - _w.Kh) / _shw + 1, (w + 2 * (_w.Kw / 2) - _w.Kw) / _shw + 1);

    /// <summary>
    /// Convolves the pushed frames (plus cached ones); writes into <paramref name="into"/> when given (a
    /// channel slice of a concat target), else into a rented tensor. <paramref name="residual"/> is added.
    /// </summary>
    public GpuTensor Push(StreamContext ctx, GpuTensor x, GpuTensor? residual = null, GpuTensor? into = null)
    {
        int n = OutputFrames(ctx.State, x.T);
        var (ho, wo) = OutputSize(x.H, x.W);
        var y = into ?? ctx.Rent(Cout, n, ho, wo);
        if (y.T != n || y.C != Cout || y.H != ho || y.W != wo)
            throw new InvalidOperationException($"{Name}: output {y.Shape} but the conv yields [T={n}, C={Cout}, H={ho}, W={wo}]");
        if (x.T == 0) return y;
        if (Kt == 1)
        {
            Conv.Forward(ctx.Rec, null, x, _w, y, 1, _shw, _padding, residual, Name);
            return y;
        }
        var s = ctx.State.Slot<Stream>(_slot);
        if (!s.Started)
        {
            s.Cache = ctx.State.CreateTensor(x.C, Kt - 1, x.H, x.W, x.Precision);
            for (int i = 0; i < Kt - 1; i++) ctx.Rec.Copy(x.Frames(0, 1), s.Cache.Frames(i, 1), _cacheLabel);
            s.Cached = Kt - 1;
            s.Started = true;
        }
        var past = s.Cached > 0 ? s.Cache!.Frames(0, s.Cached) : null;
        if (n > 0) Conv.Forward(ctx.Rec, past, x, _w, y, _st, _shw, _padding, residual, Name);
        if (!ctx.StreamEnds) KeepPast(ctx, s, x, n * _st);
        return y;
    }

    /// <summary>
    /// Keeps the virtual frames [start, V) that later outputs still read (at most kt − 1 of them), in place: cached
    /// frames move down first, in ascending order, so each is read before a later copy overwrites its slot. The
    /// recorder orders these copies after the conv that read the cache and after each other (byte-range hazards),
    /// so one buffer suffices where a second would double the cache memory.
    /// </summary>
    private void KeepPast(StreamContext ctx, Stream s, GpuTensor x, int start)
    {
        int virtualFrames = s.Cached + x.T;
        for (int v = start; v < virtualFrames; v++)
        {
            if (v < s.Cached && start == 0) continue; // already in its slot
            var src = v < s.Cached ? s.Cache!.Frames(v, 1) : x.Frames(v - s.Cached, 1);
            ctx.Rec.Copy(src, s.Cache!.Frames(v - start, 1), _cacheLabel);
        }
        s.Cached = virtualFrames - start;
    }
}

using WfVae.Operators;
using WfVae.Runtime;

namespace WfVae.Model.Layers;

/// <summary>
/// AttnBlock3DFix: per-frame single-head spatial self-attention with 1x1x1 q/k/v/proj convs and a
/// residual (fused into proj_out). Frames never attend to each other, so it is streamable.
/// </summary>
public sealed class AttentionBlock
{
    private readonly Normalize _norm;
    private readonly CausalConv _q, _k, _v, _proj;
    private readonly int _c;

    public AttentionBlock(WeightSource weights, string path, int channels)
    {
        _c = channels;
        _norm = new Normalize(weights, path + ".norm", channels);
        CausalConv Linear(string name) => new(weights, path + "." + name, weights.Conv(path + "." + name + ".conv", channels, channels, 1, 1, 1));
        _q = Linear("q");
        _k = Linear("k");
        _v = Linear("v");
        _proj = Linear("proj_out");
    }

    public GpuTensor Push(StreamContext ctx, GpuTensor x, GpuTensor? into = null)
    {
        if (x.T == 0) return into ?? ctx.Rent(_c, 0, x.H, x.W);
        var h = ctx.Rent(_c, x.T, x.H, x.W);
        _norm.Apply(ctx, x, h, silu: false);
        var q = _q.Push(ctx, h);
        var k = _k.Push(ctx, h);
        var v = _v.Push(ctx, h);
        ctx.Return(h);
        var o = ctx.Rent(_c, x.T, x.H, x.W);
        Attention.Forward(ctx.Rec, q, k, v, o, 1f / MathF.Sqrt(_c));
        ctx.Return(q, k, v);
        var y = _proj.Push(ctx, o, residual: x, into: into);
        ctx.Return(o);
        return y;
    }
}

using WfVae.Runtime;

namespace WfVae.Model.Layers;

/// <summary>
/// ResnetBlock3D (causal 3x3x3 convs with caches) or ResnetBlock2D (per-frame 3x3 convs):
/// norm1, SiLU, conv1, norm2, SiLU, conv2, plus the input (through a 1x1 conv when the width changes).
/// The residual add is fused into conv2.
/// </summary>
public sealed class ResnetBlock
{
    private readonly Normalize _norm1, _norm2;
    private readonly CausalConv _conv1, _conv2;
    private readonly CausalConv? _shortcut;

    public int Cin { get; }
    public int Cout { get; }

    public ResnetBlock(WeightSource weights, string path, int cin, int cout, bool is3D)
    {
        Cin = cin;
        Cout = cout;
        _norm1 = new Normalize(weights, path + ".norm1", cin, perFrame: !is3D);
        _norm2 = new Normalize(weights, path + ".norm2", cout, perFrame: !is3D);
        string conv = is3D ? ".conv" : "";
        int kt = is3D ? 3 : 1;
        _conv1 = new CausalConv(weights, path + ".conv1", weights.Conv(path + ".conv1" + conv, cout, cin, kt, 3, 3));
        _conv2 = new CausalConv(weights, path + ".conv2", weights.Conv(path + ".conv2" + conv, cout, cout, kt, 3, 3));
        if (cin != cout)
            _shortcut = new CausalConv(weights, path + ".nin_shortcut", weights.Conv(path + ".nin_shortcut" + conv, cout, cin, 1, 1, 1));
    }

    public GpuTensor Push(StreamContext ctx, GpuTensor x, GpuTensor? into = null)
    {
        var h = ctx.Rent(Cin, x.T, x.H, x.W);
        _norm1.Apply(ctx, x, h, silu: true);
        var h1 = _conv1.Push(ctx, h);
        ctx.Return(h);
        _norm2.Apply(ctx, h1, h1, silu: true);
        var skip = _shortcut?.Push(ctx, x) ?? x;
        var y = _conv2.Push(ctx, h1, residual: skip, into: into);
        ctx.Return(h1);
        if (_shortcut != null) ctx.Return(skip);
        return y;
    }
}

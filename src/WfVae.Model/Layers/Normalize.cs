using WfVae.Model.Checkpoint;
using WfVae.Operators;
using WfVae.Runtime;

namespace WfVae.Model.Layers;

/// <summary>
/// The official Normalize: LayerNorm over channels (per voxel, so per frame and streamable) or
/// GroupNorm(32) whose statistics span every frame of the push (per frame inside ResnetBlock2D).
/// SiLU is fused into the same pass where the graph applies it next.
/// </summary>
public sealed class Normalize
{
    private readonly NormType _type;
    private readonly bool _perFrame;
    private readonly GpuTensor _gamma, _beta;

    public Normalize(WeightSource weights, string path, int channels, bool perFrame = false)
    {
        _type = weights.Config.NormType;
        _perFrame = perFrame;
        (_gamma, _beta) = weights.NormVectors(path, channels);
    }

    /// <summary>y = norm(x), then SiLU when <paramref name="silu"/>; y may be x.</summary>
    public void Apply(StreamContext ctx, GpuTensor x, GpuTensor y, bool silu)
    {
        if (x.T == 0) return;
        if (_type == NormType.LayerNorm)
            Norm.LayerNorm(ctx.Rec, x, _gamma, _beta, y, silu);
        else
            Norm.GroupNorm(ctx.Rec, x, _gamma, _beta, y, silu, _perFrame, ctx.Arena);
    }
}

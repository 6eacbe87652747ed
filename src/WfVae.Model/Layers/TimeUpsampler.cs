using WfVae.Model.Checkpoint;
using WfVae.Operators;
using WfVae.Runtime;

namespace WfVae.Model.Layers;

/// <summary>
/// Spatial2xTime2x3DUpsample as a stream (spec §3.9, §6.3): frame 0 passes alone, later frames are
/// interpolated 2x in time (trilinear needs the next frame, so each push emits the blends between the
/// previous and the new frame and the last frame waits for the end of the stream), every frame is
/// upsampled 2x bilinearly in space, then a causal 3x3x3 conv runs on the result.
/// </summary>
public sealed class TimeUpsampler : IDisposable
{
    private readonly bool _trilinear;
    private readonly CausalConv _conv;
    private GpuTensor? _prev;
    private int _count;

    public TimeUpsampler(WeightSource weights, string path, int channels)
    {
        _trilinear = weights.Config.TemporalInterpolation == TemporalInterpolation.Trilinear;
        _conv = new CausalConv(path + ".conv", weights.Conv(path + ".conv.conv", channels, channels, 3, 3, 3));
    }

    /// <summary>Interpolated frames the next push yields (before the conv, which keeps the count).</summary>
    public int OutputFrames(int frames, bool last)
    {
        int n = 0, count = _count;
        for (int i = 0; i < frames; i++, count++)
            n += count == 0 ? 1 : !_trilinear ? 2 : count == 1 ? 1 : 2;
        if (last && _trilinear && count >= 2) n++;
        return n;
    }

    public GpuTensor Push(StreamContext ctx, GpuTensor m, bool last)
    {
        int n = OutputFrames(m.T, last);
        var u = ctx.Rent(m.C, n, 2 * m.H, 2 * m.W);
        int o = 0;
        void Emit(GpuTensor a, GpuTensor b, float wa, float wb) =>
            Resample.BlendBilinear2x(ctx.Rec, a, b, wa, wb, u.Frames(o++, 1));

        for (int i = 0; i < m.T; i++, _count++)
        {
            var cur = m.Frames(i, 1);
            if (_count == 0 || (_trilinear && _count == 1)) Emit(cur, cur, 1f, 0f);
            else if (!_trilinear)
            {
                Emit(cur, cur, 1f, 0f);
                Emit(cur, cur, 1f, 0f);
            }
            else
            {
                // PyTorch's half-pixel rule: weights (0.75, 0.25) then (0.25, 0.75), earlier frame first.
                Emit(_prev!, cur, 0.75f, 0.25f);
                Emit(_prev!, cur, 0.25f, 0.75f);
            }
            _prev ??= ctx.Device.CreateTensor(m.C, 1, m.H, m.W, m.Precision);
            ctx.Rec.Copy(cur, _prev, "up2.prev");
        }
        if (last && _trilinear && _count >= 2) Emit(_prev!, _prev!, 1f, 0f);

        var y = _conv.Push(ctx, u);
        ctx.Return(u);
        return y;
    }

    public void Reset()
    {
        _prev?.Dispose();
        _prev = null;
        _count = 0;
        _conv.Reset();
    }

    public void Dispose() => Reset();
}

using WfVae.Model.Checkpoint;
using WfVae.Operators;
using WfVae.Runtime;

namespace WfVae.Model.Layers;

/// <summary>
/// Spatial2xTime2x3DUpsample as a stream (docs/model.md, "Decoder" and "Causal streaming"): frame 0 passes alone,
/// later frames are interpolated 2x in time (trilinear needs the next frame, so each push emits the blends between
/// the previous and the new frame and the last frame waits for the end of the stream), every frame is upsampled 2x
/// bilinearly in space, then a causal 3x3x3 conv runs on the result. The previous frame lives in the stream state.
/// </summary>
public sealed class TimeUpsampler
{
    private readonly bool _trilinear;
    private readonly CausalConv _conv;
    private readonly int _slot;

    private sealed class Stream
    {
        public GpuTensor? Prev;
        public int Count;
    }

    public TimeUpsampler(WeightSource weights, string path, int channels)
    {
        _trilinear = weights.Config.TemporalInterpolation == TemporalInterpolation.Trilinear;
        _conv = new CausalConv(weights, path + ".conv", weights.Conv(path + ".conv.conv", channels, channels, 3, 3, 3));
        _slot = weights.State.Next();
    }

    /// <summary>Interpolated frames the next push yields (before the conv, which keeps the count).</summary>
    public int OutputFrames(StreamState state, int frames, bool last)
    {
        int n = 0, count = state.Slot<Stream>(_slot).Count;
        for (int i = 0; i < frames; i++, count++)
            n += count == 0 ? 1 : !_trilinear ? 2 : count == 1 ? 1 : 2;
        if (last && _trilinear && count >= 2) n++;
        return n;
    }

    public GpuTensor Push(StreamContext ctx, GpuTensor m, bool last)
    {
        var s = ctx.State.Slot<Stream>(_slot);
        int n = OutputFrames(ctx.State, m.T, last);
        var u = ctx.Rent(m.C, n, 2 * m.H, 2 * m.W);
        int o = 0;
        void Emit(GpuTensor a, GpuTensor b, float wa, float wb) =>
            Resample.BlendBilinear2x(ctx.Rec, a, b, wa, wb, u.Frames(o++, 1));

        for (int i = 0; i < m.T; i++, s.Count++)
        {
            var cur = m.Frames(i, 1);
            if (s.Count == 0 || (_trilinear && s.Count == 1)) Emit(cur, cur, 1f, 0f);
            else if (!_trilinear)
            {
                Emit(cur, cur, 1f, 0f);
                Emit(cur, cur, 1f, 0f);
            }
            else
            {
                // PyTorch's half-pixel rule: weights (0.75, 0.25) then (0.25, 0.75), earlier frame first.
                Emit(s.Prev!, cur, 0.75f, 0.25f);
                Emit(s.Prev!, cur, 0.25f, 0.75f);
            }
            s.Prev ??= ctx.State.CreateTensor(m.C, 1, m.H, m.W, m.Precision);
            ctx.Rec.Copy(cur, s.Prev, "up2.prev");
        }
        if (last && _trilinear && s.Count >= 2) Emit(s.Prev!, s.Prev!, 1f, 0f);

        var y = _conv.Push(ctx, u);
        ctx.Return(u);
        return y;
    }
}

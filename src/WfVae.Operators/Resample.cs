using System.Runtime.InteropServices;
using WfVae.Runtime;

namespace WfVae.Operators;

/// <summary>
/// Dispatcher of shaders/resample.comp: the decoder's spatial 2× upsampling (docs/model.md#upsampling) — nearest (Upsample of
/// <c>up1</c>) and the temporal blend + bilinear 2× step of Spatial2xTime2x3DUpsample — plus the temporal plan
/// that says which latent-rate frames and weights make each 2×-rate frame.
/// </summary>
public static class Resample
{
    private enum Mode { Nearest = 0, BlendBilinear = 1 }

    [StructLayout(LayoutKind.Sequential)]
    private struct Push
    {
        public uint ABase, AFrame, BBase, BFrame, YBase, YFrame;
        public uint C, H, W;
        public float Wa, Wb;
    }

    /// <summary>shaders/resample.comp: bindings a, b, y; specialization constant MODE.</summary>
    public static ShaderFamily Shader { get; } = ShaderFamily.Create<Push>("resample", ["MODE"], ShaderFamily.BothPrecisions, ShaderVariant.Plain(3));

    /// <summary>Per frame nearest 2×: y[2i + a, 2j + b] = x[i, j]; x [T, C, h, w], y [T, C, 2h, 2w].</summary>
    public static void Nearest2x(CommandRecorder rec, GpuTensor x, GpuTensor y)
    {
        Expect(x, y, "Resample.Nearest2x");
        Run(rec, Mode.Nearest, x, x, y, 1f, 0f);
    }

    /// <summary>
    /// y[t] = bilinear2x(wa·a[t] + wb·b[t]): the temporal blend, then PyTorch's bilinear 2× (half-pixel,
    /// align_corners = False, edge clamp), with one fixed evaluation order (see the shader). a, b: [T, C, h, w]
    /// (same shape; may be the same tensor or views of single frames); y: [T, C, 2h, 2w]. With wa = 1, wb = 0
    /// it is a plain bilinear 2× of a.
    /// </summary>
    public static void BlendBilinear2x(CommandRecorder rec, GpuTensor a, GpuTensor b, float wa, float wb, GpuTensor y)
    {
        Dispatch.SameShape(a, b, "Resample.BlendBilinear2x");
        Expect(a, y, "Resample.BlendBilinear2x");
        Run(rec, Mode.BlendBilinear, a, b, y, wa, wb);
    }

    /// <summary>
    /// The temporal 2× of Spatial2xTime2x3DUpsample for a whole clip of <paramref name="t"/> latent-rate frames
    /// M[0 … t−1] (docs/model.md#upsampling step 1): 2t − 1 entries (t = 1: one), output frame n = wa·M[A] + wb·M[B].
    /// Frame 0 passes alone; frames 1 … t−1 are upsampled 2× as one sequence — trilinear with PyTorch's
    /// half-pixel rule (U[1] = M[1], U[2j−1] = .25·M[j−1] + .75·M[j], U[2j] = .75·M[j] + .25·M[j+1],
    /// last = M[t−1]), nearest U[2j−1] = U[2j] = M[j]. A single-frame entry is (A, A, 1, 0).
    /// </summary>
    public static IReadOnlyList<(int A, int B, float Wa, float Wb)> TemporalPlan(int t, bool trilinear)
    {
        if (t < 1) throw new ArgumentOutOfRangeException(nameof(t), "at least one frame");
        var plan = new List<(int, int, float, float)>(2 * t - 1) { (0, 0, 1f, 0f) };
        int n = t - 1; // x_i = M[i + 1], i = 0 … n − 1
        for (int d = 0; d < 2 * n; d++)
        {
            if (!trilinear)
            {
                int m = 1 + d / 2;
                plan.Add((m, m, 1f, 0f));
                continue;
            }
            // PyTorch: src = (d + 0.5)/2 − 0.5 clamped at 0, i0 = ⌊src⌋, i1 = min(i0 + 1, n − 1), λ = src − i0.
            double src = Math.Max(0.0, (d + 0.5) / 2.0 - 0.5);
            int i0 = (int)Math.Floor(src);
            int i1 = Math.Min(i0 + 1, n - 1);
            float lambda = (float)(src - i0);
            if (lambda == 0f || i0 == i1) plan.Add((1 + i0, 1 + i0, 1f, 0f));
            else plan.Add((1 + i0, 1 + i1, 1f - lambda, lambda));
        }
        return plan;
    }

    private static void Expect(GpuTensor x, GpuTensor y, string op)
    {
        if (y.T != x.T || y.C != x.C || y.H != 2 * x.H || y.W != 2 * x.W)
            throw new ArgumentException($"{op}: {x.Shape} needs an output [T={x.T}, C={x.C}, H={2 * x.H}, W={2 * x.W}], got {y.Shape}");
    }

    private static void Run(CommandRecorder rec, Mode mode, GpuTensor a, GpuTensor b, GpuTensor y, float wa, float wb)
    {
        if (a.ElementCount == 0) return;
        // Workgroup z covers (frame, channel) planes; at most 65535 (the guaranteed limit) per dispatch.
        int framesPerDispatch = Math.Max(1, 65535 / a.C);
        for (int t0 = 0; t0 < a.T; t0 += framesPerDispatch)
        {
            int n = Math.Min(framesPerDispatch, a.T - t0);
            if (n == a.T) RunFrames(rec, mode, a, b, y, wa, wb);
            else RunFrames(rec, mode, a.Frames(t0, n), b.Frames(t0, n), y.Frames(t0, n), wa, wb);
        }
    }

    private static void RunFrames(CommandRecorder rec, Mode mode, GpuTensor a, GpuTensor b, GpuTensor y, float wa, float wb)
    {
        var precision = Dispatch.PrecisionOf(rec, "Resample", a, b, y);
        var pipe = rec.Device.Pipelines.Get(Shader.Kernel(precision), [(int)mode]);
        var push = new Push
        {
            ABase = a.BaseElement, AFrame = (uint)a.FrameStride,
            BBase = b.BaseElement, BFrame = (uint)b.FrameStride,
            YBase = y.BaseElement, YFrame = (uint)y.FrameStride,
            C = (uint)a.C, H = (uint)a.H, W = (uint)a.W,
            Wa = wa, Wb = wb,
        };
        uint gx = Dispatch.CeilDiv(a.W, 32), gy = Dispatch.CeilDiv(a.H, 4), gz = (uint)(a.T * a.C);
        rec.Dispatch(pipe, [Binding.Read(a), Binding.Read(b), Binding.Written(y)], push, gx, gy, gz,
            mode == Mode.Nearest ? "resample.nearest2x" : "resample.blend_bilinear2x");
    }
}

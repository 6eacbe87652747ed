using System.Runtime.InteropServices;
using WfVae.Runtime;

namespace WfVae.Operators;

/// <summary>
/// Dispatcher of shaders/posterior.comp: the DiagonalGaussian posterior (docs/model.md#posterior) — split of the moments
/// into mean and clamped log-variance, and seeded sampling with a counter-based RNG (Philox4x32-10 +
/// Box-Muller) keyed by (seed, absolute latent frame, channel, y, x).
/// </summary>
public static class Posterior
{
    public const float LogvarMin = -30f, LogvarMax = 20f;

    private enum Mode { Split = 0, Sample = 1 }

    [StructLayout(LayoutKind.Sequential)]
    private struct Push
    {
        public uint ABase, AFrame, BBase, BFrame, YBase, YFrame;
        public uint L, H, W, Count, SeedLo, SeedHi, FirstFrame;
    }

    /// <summary>shaders/posterior.comp: bindings a, b, y; specialization constant MODE.</summary>
    public static ShaderFamily Shader { get; } = ShaderFamily.Create<Push>("posterior", ["MODE"], ShaderFamily.BothPrecisions, ShaderVariant.Plain(3));

    /// <summary>moments [T, 2L, h, w] → mean = moments[:, 0:L], logvar = clamp(moments[:, L:2L], −30, 20).</summary>
    public static void Split(CommandRecorder rec, GpuTensor moments, GpuTensor mean, GpuTensor logvar)
    {
        if (moments.C % 2 != 0) throw new ArgumentException($"Posterior.Split: moments {moments.Shape} need 2L channels");
        int l = moments.C / 2;
        Expect(mean, moments.T, l, moments.H, moments.W, "Posterior.Split mean");
        Expect(logvar, moments.T, l, moments.H, moments.W, "Posterior.Split logvar");
        Run(rec, Mode.Split, Binding.Read(moments), Binding.Written(mean), Binding.Written(logvar), mean, 0, 0);
    }

    /// <summary>
    /// sample = mean + exp(0.5·logvar)·ε, ε ~ N(0, 1) from Philox4x32-10 (counter (x, y, channel, frame),
    /// key = seed) and Box-Muller. <paramref name="firstFrame"/> is the absolute stream index of frame 0 of the
    /// views, so streamed and whole-clip sampling agree. <paramref name="sample"/> may be <paramref name="mean"/>.
    /// </summary>
    public static void Sample(CommandRecorder rec, GpuTensor mean, GpuTensor logvar, GpuTensor sample, ulong seed, int firstFrame = 0)
    {
        if (firstFrame < 0) throw new ArgumentOutOfRangeException(nameof(firstFrame));
        Dispatch.SameShape(mean, logvar, "Posterior.Sample");
        Dispatch.SameShape(mean, sample, "Posterior.Sample");
        Run(rec, Mode.Sample, Binding.Read(mean), Binding.Read(logvar), Binding.Written(sample), mean, seed, (uint)firstFrame);
    }

    private static void Expect(GpuTensor t, int frames, int c, int h, int w, string op)
    {
        if (t.T != frames || t.C != c || t.H != h || t.W != w)
            throw new ArgumentException($"{op}: expected [T={frames}, C={c}, H={h}, W={w}], got {t.Shape}");
    }

    private static void Run(CommandRecorder rec, Mode mode, Binding a, Binding b, Binding y, GpuTensor shape, ulong seed, uint firstFrame)
    {
        long count = shape.ElementCount;
        if (count == 0) return;
        var precision = Dispatch.PrecisionOf(rec, "Posterior", a.Tensor, b.Tensor, y.Tensor);
        var pipe = rec.Device.Pipelines.Get(Shader.Kernel(precision), [(int)mode]);
        var push = new Push
        {
            ABase = a.Tensor.BaseElement, AFrame = (uint)a.Tensor.FrameStride,
            BBase = b.Tensor.BaseElement, BFrame = (uint)b.Tensor.FrameStride,
            YBase = y.Tensor.BaseElement, YFrame = (uint)y.Tensor.FrameStride,
            L = (uint)shape.C, H = (uint)shape.H, W = (uint)shape.W, Count = checked((uint)count),
            SeedLo = (uint)seed, SeedHi = (uint)(seed >> 32), FirstFrame = firstFrame,
        };
        var (gx, gy) = Dispatch.Linear(count, 128);
        rec.Dispatch(pipe, [a, b, y], push, gx, gy, 1, mode == Mode.Split ? "posterior.split" : "posterior.sample");
    }
}

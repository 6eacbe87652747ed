using System.Runtime.InteropServices;
using WfVae.Runtime;

namespace WfVae.Operators;

/// <summary>
/// Dispatcher of shaders/haar.comp: the Haar wavelet transforms of WF-VAE (docs/model.md#wavelets), 3D (constant
/// <see cref="Kappa"/>) and 2D (constant 0.5), forward and inverse, sub-band-major channels (f·C + c).
/// Every tensor may be a strided view (channel slice or frame range).
/// </summary>
public static class Haar
{
    /// <summary>The 3D constant of the official model: the float32 0.3536f (not 1/√8).</summary>
    public const float Kappa = 0.3536f;

    // Guaranteed minimum of maxComputeWorkGroupCount[2].
    private const long MaxGroupsZ = 65535;

    private enum Mode { Forward3D = 0, Inverse3D = 1, Forward2D = 2, Inverse2D = 3 }

    [StructLayout(LayoutKind.Sequential)]
    private struct Push
    {
        public uint ABase, AFrame, BBase, BFrame, YBase, YFrame;
        public uint C, Hh, Wh, H, W, Past;
        public float K;
    }

    /// <summary>shaders/haar.comp: bindings a, b, y; specialization constants MODE and ADD.</summary>
    public static ShaderFamily Shader { get; } = ShaderFamily.Create<Push>("haar", ["MODE", "ADD"], ShaderFamily.BothPrecisions, ShaderVariant.Plain(3));

    private static readonly string[] Labels = ["haar.forward3d", "haar.inverse3d", "haar.forward2d", "haar.inverse2d"];

    /// <summary>
    /// Forward 3D transform as a causal conv kt = 2, st = 2 over the virtual frames <c>past ++ x</c>:
    /// output frame j is built from virtual frames 2j (time tap 0) and 2j + 1 (time tap 1).
    /// The stream object passes a copy of frame 0 as <paramref name="past"/> at stream start (so the
    /// time-high sub-bands of output frame 0 are exactly 0) and any unpaired frame afterwards.
    /// <paramref name="y"/>: [⌊(P + Tx)/2⌋, 8C, ⌊H/2⌋, ⌊W/2⌋]; an unpaired trailing virtual frame is not read.
    /// </summary>
    public static void Forward3D(CommandRecorder rec, GpuTensor? past, GpuTensor x, GpuTensor y)
    {
        int pastFrames = past?.T ?? 0;
        if (past != null && (past.C != x.C || past.H != x.H || past.W != x.W))
            throw new ArgumentException($"Haar.Forward3D: past {past.Shape} does not match x {x.Shape}");
        int tout = (pastFrames + x.T) / 2;
        Expect(y, tout, 8 * x.C, x.H / 2, x.W / 2, "Haar.Forward3D");
        // Without a past, binding 0 is x too (never read for frames < 0).
        Run(rec, Mode.Forward3D, false, past ?? x, x, y, x.C, y.H, y.W, x.H, x.W, (uint)pastFrames, tout, Kappa);
    }

    /// <summary>
    /// Inverse 3D transform: every coefficient frame j of <paramref name="x"/> [t, 8C, h, w] gives output frames
    /// 2j (time tap 0) and 2j + 1 (tap 1). With <paramref name="dropFirst"/> the very first output frame (tap 0
    /// of coefficient frame 0, the start of the stream) is not produced and <paramref name="y"/> has 2t − 1
    /// frames, else 2t. <paramref name="addToLowBand"/> [t, C, h, w], when given, is added to the first C
    /// coefficient channels (the LLL band) before inverting (the decoder's Ŵ[0:3] += l).
    /// </summary>
    public static void Inverse3D(CommandRecorder rec, GpuTensor x, GpuTensor y, bool dropFirst, GpuTensor? addToLowBand = null)
    {
        if (x.C % 8 != 0) throw new ArgumentException($"Haar.Inverse3D: {x.Shape} needs 8C channels");
        int c = x.C / 8;
        int drop = dropFirst && x.T > 0 ? 1 : 0;
        Expect(y, 2 * x.T - drop, c, 2 * x.H, 2 * x.W, "Haar.Inverse3D");
        if (addToLowBand != null) Expect(addToLowBand, x.T, c, x.H, x.W, "Haar.Inverse3D addToLowBand");
        Run(rec, Mode.Inverse3D, addToLowBand != null, x, addToLowBand ?? x, y, c, x.H, x.W, y.H, y.W, (uint)drop, x.T, Kappa);
    }

    /// <summary>Forward 2D transform per frame: x [T, C, H, W] → y [T, 4C, ⌊H/2⌋, ⌊W/2⌋], order aa, ad (H high), da (W high), dd.</summary>
    public static void Forward2D(CommandRecorder rec, GpuTensor x, GpuTensor y)
    {
        Expect(y, x.T, 4 * x.C, x.H / 2, x.W / 2, "Haar.Forward2D");
        Run(rec, Mode.Forward2D, false, x, x, y, x.C, y.H, y.W, x.H, x.W, 0, x.T, 0.5f);
    }

    /// <summary>
    /// Inverse 2D transform per frame: x [T, 4C, h, w] → y [T, C, 2h, 2w]. <paramref name="addToLowBand"/>
    /// [T, C, h, w], when given, is added to the first C coefficient channels (aa band) before inverting.
    /// </summary>
    public static void Inverse2D(CommandRecorder rec, GpuTensor x, GpuTensor y, GpuTensor? addToLowBand = null)
    {
        if (x.C % 4 != 0) throw new ArgumentException($"Haar.Inverse2D: {x.Shape} needs 4C channels");
        int c = x.C / 4;
        Expect(y, x.T, c, 2 * x.H, 2 * x.W, "Haar.Inverse2D");
        if (addToLowBand != null) Expect(addToLowBand, x.T, c, x.H, x.W, "Haar.Inverse2D addToLowBand");
        Run(rec, Mode.Inverse2D, addToLowBand != null, x, addToLowBand ?? x, y, c, x.H, x.W, y.H, y.W, 0, x.T, 0.5f);
    }

    private static void Expect(GpuTensor t, int frames, int c, int h, int w, string op)
    {
        if (t.T != frames || t.C != c || t.H != h || t.W != w)
            throw new ArgumentException($"{op}: expected [T={frames}, C={c}, H={h}, W={w}], got {t.Shape}");
    }

    private static void Run(CommandRecorder rec, Mode mode, bool add, GpuTensor a, GpuTensor b, GpuTensor y,
        int c, int hh, int wh, int h, int w, uint past, int frames, float k)
    {
        long planes = (long)frames * c;   // workgroup z: one (frame, channel) plane each
        if (planes == 0 || hh == 0 || wh == 0) return;
        if (planes > MaxGroupsZ) throw new ArgumentException($"Haar: {frames} frames x {c} channels exceed {MaxGroupsZ} workgroups in z; split the frames");
        var precision = Dispatch.PrecisionOf(rec, "Haar", a, b, y);
        var pipe = rec.Device.Pipelines.Get(Shader.Kernel(precision), [(int)mode, add ? 1 : 0]);
        var push = new Push
        {
            ABase = a.BaseElement, AFrame = (uint)a.FrameStride,
            BBase = b.BaseElement, BFrame = (uint)b.FrameStride,
            YBase = y.BaseElement, YFrame = (uint)y.FrameStride,
            C = (uint)c, Hh = (uint)hh, Wh = (uint)wh, H = (uint)h, W = (uint)w,
            Past = past, K = k,
        };
        uint gx = Dispatch.CeilDiv(wh, 32), gy = Dispatch.CeilDiv(hh, 4);
        bool readB = mode == Mode.Forward3D || add;
        rec.Dispatch(pipe, [Binding.Read(a), Binding.Read(readB ? b : a), Binding.Written(y)], push, gx, gy, (uint)planes, Labels[(int)mode]);
    }
}

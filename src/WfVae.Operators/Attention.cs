using System.Runtime.InteropServices;
using WfVae.Runtime;

namespace WfVae.Operators;

/// <summary>
/// Dispatcher of shaders/attention.comp: the single-head spatial attention core of AttnBlock3DFix (docs/model.md#attention),
/// flash style (key blocks, online softmax), per frame. Needs no scratch memory: nothing of size N × N exists.
/// </summary>
public static class Attention
{
    private const int QueriesPerGroup = 16;   // BQ in the shader
    private const int Invocations = 256;      // workgroup size = keys per block = channel stride of accumulators
    /// <summary>Largest C: 16 · ceil(C / 256) accumulators per invocation must stay in registers.</summary>
    public const int MaxChannels = 1024;

    [StructLayout(LayoutKind.Sequential)]
    private struct Push
    {
        public uint QBase, QFrame, KBase, KFrame, VBase, VFrame, OBase, OFrame, N;
        public float ScaleLog2;
    }

    /// <summary>
    /// shaders/attention.comp: bindings q, k, v, output; specialization constants C, ACCC, CK; variants plain (storage
    /// buffers, Q staged in shared memory) and texel (q, k, v through texel views, for CPU drivers; same bits).
    /// </summary>
    public static ShaderFamily Shader { get; } = ShaderFamily.Create<Push>("attention", ["C", "ACCC", "CK"], ShaderFamily.BothPrecisions,
        ShaderVariant.Plain(4),
        new ShaderVariant("texel", [BindingKind.Texels, BindingKind.Texels, BindingKind.Texels, BindingKind.Storage]))
        // Its compile on lavapipe is as long as a 16x16 accumulator tile's (0.4 s on Mesa 22.3, 2.4 s on Mesa 25).
        .WithCompileWeight(16 * 16);

    /// <summary>
    /// Per frame t: tokens are the H·W positions (token = y·W + x), channels C;
    /// output[:, n] = Σ_j softmax_j(q_n · k_j · scale) v_j. All four are [T][C][H][W] views of one shape
    /// (strided views allowed); <paramref name="output"/> must not overlap q, k or v.
    /// </summary>
    public static void Forward(CommandRecorder rec, GpuTensor q, GpuTensor k, GpuTensor v, GpuTensor output, float scale)
    {
        Dispatch.SameShape(q, k, "Attention");
        Dispatch.SameShape(q, v, "Attention");
        Dispatch.SameShape(q, output, "Attention");
        int c = q.C;
        if (c < 1 || c > MaxChannels) throw new ArgumentException($"Attention: {c} channels, supported 1..{MaxChannels}");
        if (q.T > 65535) throw new ArgumentException("Attention: more than 65535 frames in one call");
        long n = q.Plane;
        if (n == 0 || q.T == 0) return;
        var precision = Dispatch.PrecisionOf(rec, "Attention", q, k, v, output);
        bool texel = Conv.UsesTexels(rec.Device, precision);
        var pipe = rec.Device.Pipelines.Get(Shader.Kernel(texel ? 1 : 0, precision), [c, (c + Invocations - 1) / Invocations, Math.Min(64, c)]);
        var push = new Push
        {
            QBase = q.BaseElement, QFrame = checked((uint)q.FrameStride),
            KBase = k.BaseElement, KFrame = checked((uint)k.FrameStride),
            VBase = v.BaseElement, VFrame = checked((uint)v.FrameStride),
            OBase = output.BaseElement, OFrame = checked((uint)output.FrameStride),
            N = checked((uint)n),
            ScaleLog2 = (float)(scale * 1.4426950408889634),
        };
        uint groups = Dispatch.CeilDiv(n, QueriesPerGroup);
        if (groups > 65535) throw new ArgumentException($"Attention: {n} tokens exceed {65535 * QueriesPerGroup}");
        if (texel)
            rec.Dispatch(pipe, [Binding.Texels(q), Binding.Texels(k), Binding.Texels(v), Binding.Written(output)], push, groups, (uint)q.T, 1, "attention", Flops(q));
        else
            rec.Dispatch(pipe, [Binding.Read(q), Binding.Read(k), Binding.Read(v), Binding.Written(output)], push, groups, (uint)q.T, 1, "attention", Flops(q));
    }

    /// <summary>FLOPs of <see cref="Forward"/> on tensors shaped like <paramref name="q"/>: 2 matmuls, 2·(2·N²·C) per frame (docs/model.md#flops).</summary>
    public static long Flops(GpuTensor q) => 4L * q.Plane * q.Plane * q.C * q.T;
}

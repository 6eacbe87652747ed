using System.Runtime.InteropServices;
using WfVae.Runtime;

namespace WfVae.Operators;

/// <summary>
/// Dispatcher of shaders/attention.comp: the single-head spatial attention core of AttnBlock3DFix (spec §3.6),
/// flash style (key blocks, online softmax), per frame. Needs no scratch memory: nothing of size N × N exists.
/// </summary>
public static class Attention
{
    private const int QueriesPerGroup = 16;   // BQ in the shader
    private const int SharedFloats = 4096;    // BUF in the shader
    private const int KeyBlock = 32;          // BK in the shader

    [StructLayout(LayoutKind.Sequential)]
    private struct Push
    {
        public uint QBase, QFrame, KBase, KFrame, VBase, VFrame, OBase, OFrame, N;
        public float ScaleLog2;
    }

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
        if (c < 1 || c > SharedFloats) throw new ArgumentException($"Attention: {c} channels, supported 1..{SharedFloats}");
        if (q.T > 65535) throw new ArgumentException("Attention: more than 65535 frames in one call");
        long n = q.Plane;
        if (n == 0 || q.T == 0) return;
        var (acc, kv, ck) = Variant(c);
        var pipe = rec.Device.Pipelines.Get("attention", 4, Marshal.SizeOf<Push>(), stackalloc[] { c, acc, kv, ck });
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
        rec.Dispatch(pipe, new[] { Binding.Read(q), Binding.Read(k), Binding.Read(v), Binding.Written(output) }, push, groups, (uint)q.T, 1, "attention");
    }

    /// <summary>FLOPs of <see cref="Forward"/> on tensors shaped like <paramref name="q"/>: 2 matmuls, 2·(2·N²·C) per frame (spec §7).</summary>
    public static long Flops(GpuTensor q) => 4L * q.Plane * q.Plane * q.C * q.T;

    /// <summary>Specialization constants for C channels: accumulators per invocation, V keys staged at once, Q/K chunk channels.</summary>
    internal static (int Acc, int Kv, int Ck) Variant(int c)
    {
        int acc = (c + 15) / 16;
        int kv = 1;
        while (kv * 2 <= KeyBlock && kv * 2 * c <= SharedFloats) kv *= 2;
        int ck = Math.Min(64, (c + 7) / 8 * 8);   // CK * (16 + 32) <= 4096
        return (acc, kv, ck);
    }
}

using System.Runtime.InteropServices;
using WfVae.Runtime;

namespace WfVae.Operators;

/// <summary>Dispatcher of shaders/elementwise.comp: add, SiLU, strided copy (channel concat), axpy.</summary>
public static class Elementwise
{
    private enum Op { Add = 0, Silu = 1, Copy = 2, Axpy = 3 }

    [StructLayout(LayoutKind.Sequential)]
    private struct Push
    {
        public uint ABase, AFrame, BBase, BFrame, YBase, YFrame, Plane, Unused;
        public float Scale;
    }

    /// <summary>shaders/elementwise.comp: bindings a, b, y; the operation is specialization constant 0.</summary>
    public static ShaderFamily Shader { get; } = ShaderFamily.Create<Push>("elementwise", ["OP"], ShaderFamily.BothPrecisions, ShaderVariant.Plain(3));

    private static readonly string[] Labels = ["add", "silu", "copy", "axpy"];

    /// <summary>y = a + b (y may be a or b).</summary>
    public static void Add(CommandRecorder rec, GpuTensor a, GpuTensor b, GpuTensor y) => Run(rec, Op.Add, a, b, y, 1f);

    /// <summary>y = a · sigmoid(a).</summary>
    public static void Silu(CommandRecorder rec, GpuTensor a, GpuTensor y) => Run(rec, Op.Silu, a, a, y, 1f);

    /// <summary>y = a, between views of any strides (writes a channel slice of a concat target).</summary>
    public static void Copy(CommandRecorder rec, GpuTensor a, GpuTensor y) => Run(rec, Op.Copy, a, a, y, 1f);

    /// <summary>y = a · scale + b.</summary>
    public static void Axpy(CommandRecorder rec, GpuTensor a, float scale, GpuTensor b, GpuTensor y) => Run(rec, Op.Axpy, a, b, y, scale);

    private static void Run(CommandRecorder rec, Op op, GpuTensor a, GpuTensor b, GpuTensor y, float scale)
    {
        Dispatch.SameShape(a, y, Labels[(int)op]);
        Dispatch.SameShape(b, y, Labels[(int)op]);
        var precision = Dispatch.PrecisionOf(rec, Labels[(int)op], a, b, y);
        var pipe = rec.Device.Pipelines.Get(Shader.Kernel(precision), [(int)op]);
        var push = new Push
        {
            ABase = a.BaseElement, AFrame = (uint)a.FrameStride,
            BBase = b.BaseElement, BFrame = (uint)b.FrameStride,
            YBase = y.BaseElement, YFrame = (uint)y.FrameStride,
            Plane = checked((uint)y.Plane),
            Scale = scale,
        };
        if (y.T == 0 || y.C == 0 || y.Plane == 0) return;
        rec.Dispatch(pipe, [Binding.Read(a), Binding.Read(b), Binding.Written(y)], push, Dispatch.CeilDiv(y.Plane, 256), (uint)y.C, (uint)y.T, Labels[(int)op]);
    }
}

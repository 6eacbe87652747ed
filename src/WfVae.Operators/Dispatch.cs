using WfVae.Runtime;

namespace WfVae.Operators;

/// <summary>Grid helpers shared by the operator dispatchers.</summary>
internal static class Dispatch
{
    private const uint MaxGroupsX = 65535;

    /// <summary>A 2D grid covering <paramref name="invocations"/> with workgroups of <paramref name="local"/>, matching linear_index() in common.glsl.</summary>
    public static (uint X, uint Y) Linear(long invocations, uint local)
    {
        long groups = (invocations + local - 1) / local;
        if (groups <= MaxGroupsX) return ((uint)Math.Max(1, groups), 1);
        return (MaxGroupsX, (uint)((groups + MaxGroupsX - 1) / MaxGroupsX));
    }

    public static uint CeilDiv(long a, long b) => (uint)((a + b - 1) / b);

    /// <summary>
    /// The precision of a dispatch: every tensor operand must have the same element type (fp32 or fp16), which picks
    /// the kernel of the shader family. Null operands are ignored. <paramref name="op"/> names the operation in the
    /// error (its ToString is only called then, so a dispatch formats nothing).
    /// </summary>
    public static Precision PrecisionOf(CommandRecorder rec, object op, params ReadOnlySpan<GpuTensor?> tensors)
    {
        Precision? p = null;
        foreach (var t in tensors)
        {
            if (t == null) continue;
            if (p is { } q && q != t.Precision)
                throw new ArgumentException($"{op}: operands mix {q.Name()} and {t.Precision.Name()} tensors ({t.Shape})");
            p = t.Precision;
        }
        return PrecisionInfo.Resolve(rec.Device, p ?? Precision.Fp32);
    }

    public static void SameShape(GpuTensor a, GpuTensor b, string op)
    {
        if (!a.SameShape(b)) throw new ArgumentException($"{op}: shapes differ, {a.Shape} vs {b.Shape}");
    }
}

using System.Runtime.InteropServices;
using WfVae.Runtime;

namespace WfVae.Operators;

/// <summary>
/// Dispatcher of shaders/norm.comp: LayerNorm and GroupNorm (docs/model.md#normalisation) with optional fused SiLU.
/// <para>
/// Affine parameters <c>gamma</c>/<c>beta</c> are tensors whose <see cref="GpuTensor.ElementCount"/> is C and
/// whose elements are consecutive in memory (any dense shape; <see cref="UploadVector"/> makes one as
/// [T=1, C, H=1, W=1]); element c is read at <c>BaseElement + c</c>.
/// </para>
/// <para>
/// x and y may be strided views (channel slices, frame ranges of a larger tensor) and may be the same view
/// (in place).
/// </para>
/// </summary>
public static class Norm
{
    private const int Local = 256;
    /// <summary>Minimum elements per GroupNorm statistics chunk (one workgroup each).</summary>
    private const int MinChunk = 4096;

    private enum Mode { LayerNorm = 0, GroupStats = 1, GroupMerge = 2, GroupApply = 3 }

    [StructLayout(LayoutKind.Sequential)]
    private struct Push
    {
        public uint XBase, XFrame, YBase, YFrame, GBase, BBase, SBase, StatsOff;
        public uint C, Plane, T, Groups, Cpg, NChunks, ChunkLen, PerFrame, Count;
        public float Eps;
    }

    /// <summary>
    /// shaders/norm.comp: bindings x, gamma, beta, y, statistics; specialization constants MODE and SILU; variants plain
    /// (storage buffers), texel (x, gamma and beta through texel views, for CPU drivers) and texel4 (LayerNorm of 4
    /// voxels per invocation, x through a vec4 view, y stored as vec4s); all three give the same bits.
    /// </summary>
    public static ShaderFamily Shader { get; } = ShaderFamily.Create<Push>("norm", ["MODE", "SILU"], ShaderFamily.BothPrecisions,
        ShaderVariant.Plain(5),
        new ShaderVariant("texel", [BindingKind.Texels, BindingKind.Texels, BindingKind.Texels, BindingKind.Storage, BindingKind.Storage]),
        new ShaderVariant("texel4", [BindingKind.Texels4, BindingKind.Texels, BindingKind.Texels, BindingKind.Storage, BindingKind.Storage]));

    /// <summary>A device vector of <paramref name="v"/>.Length floats (shape [T=1, C=n, H=1, W=1]) for gamma/beta.</summary>
    public static GpuTensor UploadVector(VulkanDevice d, ReadOnlySpan<float> v) => d.Upload(v, v.Length, 1, 1, 1);

    /// <summary>
    /// LayerNorm over the C channels of every (t, y, x) independently (biased variance):
    /// y = (x − μ) / sqrt(σ² + eps) · γ[c] + β[c], then SiLU when <paramref name="silu"/>.
    /// Per voxel, fixed order: the result of a voxel does not depend on the frames in the dispatch.
    /// </summary>
    public static void LayerNorm(CommandRecorder rec, GpuTensor x, GpuTensor gamma, GpuTensor beta, GpuTensor y, bool silu, float eps = 1e-6f)
    {
        Dispatch.SameShape(x, y, "LayerNorm");
        CheckAffine(x.C, gamma, beta, "LayerNorm");
        long voxels = (long)x.T * x.Plane;
        if (voxels == 0) return;
        var push = BasePush(x, gamma, beta, y, eps);
        var precision = Dispatch.PrecisionOf(rec, "LayerNorm", x, y);
        bool texel = Conv.UsesTexels(rec.Device, precision);
        // norm_texel4 where 4 voxels are one vec4 of x and of y (the choice never changes the bits).
        bool vec4 = texel && x.Vec4Aligned && y.Vec4Aligned;
        push.Count = checked((uint)(vec4 ? voxels / 4 : voxels));
        var pipe = rec.Device.Pipelines.Get(Shader.Kernel(vec4 ? 2 : texel ? 1 : 0, precision), [(int)Mode.LayerNorm, silu ? 1 : 0]);
        var (gx, gy) = Dispatch.Linear(push.Count, Local);
        if (vec4)
            rec.Dispatch(pipe, [Binding.Texels4(x), Binding.Texels(gamma), Binding.Texels(beta), Binding.Written(y), Binding.Read(x)], push, gx, gy, 1, "layernorm");
        else if (texel)
            rec.Dispatch(pipe, [Binding.Texels(x), Binding.Texels(gamma), Binding.Texels(beta), Binding.Written(y), Binding.Read(x)], push, gx, gy, 1, "layernorm");
        else
            rec.Dispatch(pipe, [Binding.Read(x), Binding.Read(gamma), Binding.Read(beta), Binding.Written(y), Binding.Read(x)], push, gx, gy, 1, "layernorm");
    }

    /// <summary>
    /// GroupNorm: <paramref name="groups"/> groups of C/groups consecutive channels; mean and biased variance over
    /// the group's channels and all (t, y, x) of the tensor (<paramref name="perFrame"/> = false: whole clip, as in
    /// ResnetBlock3D, attention and norm_out) or of each frame (<paramref name="perFrame"/> = true: ResnetBlock2D).
    /// Optional fused SiLU. Three dispatches: chunk statistics (mean, M2, n) → deterministic Chan merge → apply.
    /// Scratch (≈ 3 floats per 4096 inputs) is rented from <paramref name="scratch"/> and returned before this returns
    /// (later users of that memory are ordered after these dispatches by the recorder's hazard barriers).
    /// </summary>
    public static void GroupNorm(CommandRecorder rec, GpuTensor x, GpuTensor gamma, GpuTensor beta, GpuTensor y, bool silu, bool perFrame,
        TensorArena scratch, int groups = 32, float eps = 1e-6f)
    {
        Dispatch.SameShape(x, y, "GroupNorm");
        CheckAffine(x.C, gamma, beta, "GroupNorm");
        if (groups <= 0 || x.C % groups != 0) throw new ArgumentException($"GroupNorm: {x.C} channels not divisible into {groups} groups");
        if (x.ElementCount == 0) return;
        int cpg = x.C / groups;
        long runLen = cpg * x.Plane;                       // contiguous elements of one group in one frame
        long chunkLen = Math.Max(MinChunk, (runLen + 65534) / 65535);
        chunkLen = (chunkLen + Local - 1) / Local * Local;
        int nChunks = (int)((runLen + chunkLen - 1) / chunkLen);
        if (x.T > 65535) throw new ArgumentException("GroupNorm: more than 65535 frames in one call");
        int segments = perFrame ? x.T : 1;
        long partials = (long)x.T * groups * nChunks * 3;
        long stats = (long)segments * groups * 2;
        var kernel = Shader.Kernel(Dispatch.PrecisionOf(rec, "GroupNorm", x, y)); // storage buffers (not measured with texels)
        var s = scratch.Rent(checked((int)(partials + stats)), 1, 1, 1);
        try
        {
            var push = BasePush(x, gamma, beta, y, eps);
            push.SBase = s.BaseElement;
            push.StatsOff = checked((uint)partials);
            push.Groups = (uint)groups;
            push.Cpg = (uint)cpg;
            push.NChunks = (uint)nChunks;
            push.ChunkLen = (uint)chunkLen;
            push.PerFrame = perFrame ? 1u : 0u;
            var stat = rec.Device.Pipelines.Get(kernel, [(int)Mode.GroupStats, 0]);
            rec.Dispatch(stat, [Binding.Read(x), Binding.Read(gamma), Binding.Read(beta), Binding.Read(x), Binding.Written(s)], push,
                (uint)nChunks, (uint)groups, (uint)x.T, "groupnorm.stats");

            var merge = rec.Device.Pipelines.Get(kernel, [(int)Mode.GroupMerge, 0]);
            rec.Dispatch(merge, [Binding.Read(x), Binding.Read(gamma), Binding.Read(beta), Binding.Read(x), Binding.Written(s)], push,
                (uint)groups, (uint)segments, 1, "groupnorm.merge");

            long count = x.ElementCount;
            push.Count = checked((uint)count);
            var apply = rec.Device.Pipelines.Get(kernel, [(int)Mode.GroupApply, silu ? 1 : 0]);
            var (gx, gy) = Dispatch.Linear(count, Local);
            rec.Dispatch(apply, [Binding.Read(x), Binding.Read(gamma), Binding.Read(beta), Binding.Written(y), Binding.Read(s)], push,
                gx, gy, 1, "groupnorm.apply");
        }
        finally
        {
            scratch.Return(s);
        }
    }

    private static Push BasePush(GpuTensor x, GpuTensor gamma, GpuTensor beta, GpuTensor y, float eps) => new()
    {
        XBase = x.BaseElement, XFrame = checked((uint)x.FrameStride),
        YBase = y.BaseElement, YFrame = checked((uint)y.FrameStride),
        GBase = gamma.BaseElement, BBase = beta.BaseElement,
        C = (uint)x.C, Plane = checked((uint)x.Plane), T = (uint)x.T,
        Eps = eps,
    };

    private static void CheckAffine(int c, GpuTensor gamma, GpuTensor beta, string op)
    {
        foreach (var v in (ReadOnlySpan<GpuTensor>)[gamma, beta])
            if (v.ElementCount != c || !v.IsDense || v.Precision != Precision.Fp32)
                throw new ArgumentException($"{op}: affine parameter {v.Shape} must be {c} consecutive fp32 values");
    }
}

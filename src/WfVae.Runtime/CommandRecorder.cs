using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Silk.NET.Vulkan;
using Buffer = Silk.NET.Vulkan.Buffer;

namespace WfVae.Runtime;

/// <summary>
/// How a shader sees a bound memory block. Storage: a storage buffer (std430). Texels / Texels4: a uniform texel
/// buffer (textureBuffer, read only) over the whole block with format R32_SFLOAT (texel i = float element i) or
/// R32G32B32A32_SFLOAT (texel i = float elements 4i..4i+3). CPU drivers (lavapipe) fetch texels with branch-free
/// gathers, while every storage-buffer access is a per-lane loop, so read-only operands are much cheaper as texels.
/// </summary>
public enum BindingKind { Storage, Texels, Texels4 }

/// <summary>A tensor bound to a shader, whether the shader writes it (for hazard tracking), and how it is bound.</summary>
public readonly record struct Binding(GpuTensor Tensor, bool Write, BindingKind Kind = BindingKind.Storage)
{
    public static Binding Read(GpuTensor t) => new(t, false);
    public static Binding Written(GpuTensor t) => new(t, true);
    /// <summary>Read through an R32_SFLOAT uniform texel buffer (texelFetch(textureBuffer, element)).</summary>
    public static Binding Texels(GpuTensor t) => new(t, false, BindingKind.Texels);
    /// <summary>Read through an R32G32B32A32_SFLOAT uniform texel buffer (texel i = elements 4i..4i+3).</summary>
    public static Binding Texels4(GpuTensor t) => new(t, false, BindingKind.Texels4);
}

/// <summary>
/// GPU time of one labelled dispatch, from timestamp queries, the FLOPs its operator counts (docs/model.md#flops) and the
/// shader module that ran it (<see cref="ComputePipeline.Name"/>, e.g. winograd_gemm_texel), so a profile can be split by kernel.
/// </summary>
public readonly record struct DispatchTiming(string Label, double Milliseconds, long Flops, string Kernel);

/// <summary>
/// Records many dispatches into one command buffer and submits them together. Barriers are inserted
/// only where a dispatch touches bytes that an earlier, not yet fenced dispatch wrote (or writes bytes
/// an earlier one reads), so independent dispatches may overlap. Reusable: after
/// <see cref="Submit"/> it records the next batch.
/// </summary>
public sealed unsafe partial class CommandRecorder : IDisposable
{
    private const int MaxTimestamps = 8192;
    private readonly VulkanDevice _device;
    private readonly CommandPool _pool;
    private readonly CommandBuffer _cb;
    private readonly Fence _fence;
    private readonly QueryPool _queries;
    private readonly bool _timestamps;
    private readonly List<(Buffer Buffer, long Start, long End, bool Write)> _pending = new();
    private readonly List<(string Label, long Flops, string Kernel)> _labels = new();
    private readonly List<DispatchTiming> _timings = new();
    private Pipeline _boundPipeline;
    private bool _recording;
    private bool _disposed;

    public VulkanDevice Device => _device;

    /// <summary>Dispatches recorded since creation.</summary>
    public int DispatchCount { get; private set; }
    /// <summary>Barriers recorded since creation.</summary>
    public int BarrierCount { get; private set; }
    /// <summary>Submissions made since creation.</summary>
    public int SubmitCount { get; private set; }
    /// <summary>Per-dispatch GPU times of all submitted batches (when created with timestamps).</summary>
    public IReadOnlyList<DispatchTiming> Timings => _timings;

    /// <summary>
    /// While true, commands are checked and then dropped: nothing is recorded or run. A graph is pushed through a
    /// discarding recorder to learn its tensors' lifetimes (a dry run for the memory plan, TensorArena.BeginDryPass)
    /// without doing the work. Only allowed between submissions.
    /// </summary>
    public bool Discarding
    {
        get => _discarding;
        set
        {
            if (_recording) throw new InvalidOperationException("Discarding can change only between submissions");
            _discarding = value;
        }
    }

    private bool _discarding;

    internal CommandRecorder(VulkanDevice device, bool timestamps)
    {
        _device = device;
        _timestamps = timestamps;
        var vk = device.Vk;
        // A pool per recorder: recording from several threads at once needs no lock (pools are externally synchronised).
        var poolInfo = new CommandPoolCreateInfo
        {
            SType = StructureType.CommandPoolCreateInfo,
            QueueFamilyIndex = device.QueueFamily,
            Flags = CommandPoolCreateFlags.ResetCommandBufferBit,
        };
        vk.CreateCommandPool(device.Handle, in poolInfo, null, out _pool).Check("vkCreateCommandPool");
        var alloc = new CommandBufferAllocateInfo { SType = StructureType.CommandBufferAllocateInfo, CommandPool = _pool, Level = CommandBufferLevel.Primary, CommandBufferCount = 1 };
        vk.AllocateCommandBuffers(device.Handle, in alloc, out _cb).Check("vkAllocateCommandBuffers");
        var fenceInfo = new FenceCreateInfo { SType = StructureType.FenceCreateInfo };
        vk.CreateFence(device.Handle, in fenceInfo, null, out _fence).Check("vkCreateFence");
        if (timestamps)
        {
            var q = new QueryPoolCreateInfo { SType = StructureType.QueryPoolCreateInfo, QueryType = QueryType.Timestamp, QueryCount = MaxTimestamps };
            vk.CreateQueryPool(device.Handle, in q, null, out _queries).Check("vkCreateQueryPool");
        }
    }

    private void EnsureRecording()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _device.ThrowIfDisposed();
        if (_recording) return;
        var begin = new CommandBufferBeginInfo { SType = StructureType.CommandBufferBeginInfo, Flags = CommandBufferUsageFlags.OneTimeSubmitBit };
        _device.Vk.BeginCommandBuffer(_cb, in begin).Check("vkBeginCommandBuffer");
        _recording = true;
        _boundPipeline = default;
        if (_timestamps)
        {
            _device.Vk.CmdResetQueryPool(_cb, _queries, 0, MaxTimestamps);
            _device.Vk.CmdWriteTimestamp(_cb, PipelineStageFlags.TopOfPipeBit, _queries, 0);
        }
    }

    /// <summary>Records one dispatch. <paramref name="bindings"/>[i] is bound at binding i (its whole memory block).</summary>
    public void Dispatch<TPush>(ComputePipeline pipeline, ReadOnlySpan<Binding> bindings, in TPush push, uint groupsX, uint groupsY = 1, uint groupsZ = 1, string? label = null, long flops = 0)
        where TPush : unmanaged
    {
        if (sizeof(TPush) != pipeline.PushConstantBytes)
            throw new ArgumentException($"{pipeline.Name}: push constants are {sizeof(TPush)} bytes, the pipeline expects {pipeline.PushConstantBytes}");
        if (bindings.Length != pipeline.Bindings)
            throw new ArgumentException($"{pipeline.Name}: {bindings.Length} bindings given, {pipeline.Bindings} expected");
        if (groupsX == 0 || groupsY == 0 || groupsZ == 0) return;
        if (_discarding)
        {
            pipeline.NoteUse(bindings, MemoryMarshal.AsBytes(new ReadOnlySpan<TPush>(in push)));
            return;
        }
        pipeline.Started = true;
        Record(pipeline, bindings, MemoryMarshal.AsBytes(new ReadOnlySpan<TPush>(in push)), groupsX, groupsY, groupsZ);
        DispatchCount++;
        Timestamp(label ?? pipeline.Name, flops, pipeline.Name);
    }

    /// <summary>
    /// Declares what the next dispatch reads or writes through device addresses rather than bindings, so that the
    /// hazard tracking orders it after earlier writes (and later writes after it) as if the tensors were bound.
    /// </summary>
    public void AccessesThroughAddresses(ReadOnlySpan<Binding> accesses)
    {
        if (_discarding) return;
        EnsureRecording();
        Hazards(accesses);
    }

    /// <summary>
    /// Records a dispatch of no workgroups: nothing runs, but a driver that compiles a shader when it first runs
    /// (llvmpipe) compiles it here for these bindings (<see cref="FirstDispatchCompiler"/>).
    /// </summary>
    internal void RecordEmpty(ComputePipeline pipeline, ReadOnlySpan<Binding> bindings, ReadOnlySpan<byte> push) =>
        Record(pipeline, bindings, push, 0, 0, 0);

    private void Record(ComputePipeline pipeline, ReadOnlySpan<Binding> bindings, ReadOnlySpan<byte> push, uint groupsX, uint groupsY, uint groupsZ)
    {
        _device.Pipelines.EnsureBuilt(pipeline); // outside the library's lock: other sessions keep recording meanwhile
        EnsureRecording();
        var vk = _device.Vk;

        var key = new BufferSetKey();
        for (int i = 0; i < bindings.Length; i++)
        {
            if (bindings[i].Kind != pipeline.Kinds[i])
                throw new ArgumentException($"{pipeline.Name}: binding {i} is {bindings[i].Kind}, the pipeline declares {pipeline.Kinds[i]}");
            if (bindings[i].Write && bindings[i].Kind != BindingKind.Storage)
                throw new ArgumentException($"{pipeline.Name}: binding {i} is written but bound as read-only {bindings[i].Kind}");
            key[i] = bindings[i].Tensor.Storage.Buffer.Handle;
        }
        Hazards(bindings);

        if (_boundPipeline.Handle != pipeline.Handle.Handle)
        {
            vk.CmdBindPipeline(_cb, PipelineBindPoint.Compute, pipeline.Handle);
            _boundPipeline = pipeline.Handle;
        }
        var set = pipeline.SetFor(key, bindings);
        vk.CmdBindDescriptorSets(_cb, PipelineBindPoint.Compute, pipeline.Layout, 0, 1, &set, 0, null);
        if (pipeline.PushConstantBytes > 0)
            fixed (byte* bytes = push)
                vk.CmdPushConstants(_cb, pipeline.Layout, ShaderStageFlags.ComputeBit, 0, (uint)push.Length, bytes);
        vk.CmdDispatch(_cb, groupsX, groupsY, groupsZ);
    }

    /// <summary>Copies a tensor into another of the same shape (frame by frame when strided).</summary>
    public void Copy(GpuTensor src, GpuTensor dst, string? label = null)
    {
        if (!src.SameShape(dst) || src.ElementBytes != dst.ElementBytes)
            throw new ArgumentException($"copy {src.Shape} -> {dst.Shape}: shapes differ");
        if (src.ElementCount == 0 || _discarding) return;
        EnsureRecording();
        Hazards([Binding.Read(src), Binding.Written(dst)]);
        int regionsCount = src.IsDense && dst.IsDense ? 1 : src.T;
        var regions = stackalloc BufferCopy[regionsCount];
        long frameBytes = src.FrameElements * src.ElementBytes;
        if (regionsCount == 1)
            regions[0] = new BufferCopy((ulong)(src.Storage.Offset + src.Offset * src.ElementBytes), (ulong)(dst.Storage.Offset + dst.Offset * dst.ElementBytes), (ulong)(src.ElementCount * src.ElementBytes));
        else
            for (int t = 0; t < src.T; t++)
                regions[t] = new BufferCopy(
                    (ulong)(src.Storage.Offset + (src.Offset + t * src.FrameStride) * src.ElementBytes),
                    (ulong)(dst.Storage.Offset + (dst.Offset + t * dst.FrameStride) * dst.ElementBytes),
                    (ulong)frameBytes);
        _device.Vk.CmdCopyBuffer(_cb, src.Storage.Buffer, dst.Storage.Buffer, (uint)regionsCount, regions);
        Timestamp(label ?? "copy", 0, "copy");
    }

    /// <summary>Sets every element of a dense tensor to zero.</summary>
    public void Zero(GpuTensor t)
    {
        if (!t.IsDense) throw new ArgumentException("Zero needs a dense tensor");
        if (t.ElementCount == 0) return;
        long bytes = t.ElementCount * t.ElementBytes;
        long start = t.Storage.Offset + t.Offset * t.ElementBytes;
        // vkCmdFillBuffer writes whole 4-byte words from a 4-byte aligned offset, but an fp16 view may start or end in
        // the middle of a word (odd element offset or count). An unaligned start is invalid usage, and rounding the size
        // up zeroes the half after the view: harmless allocation padding for a tensor that owns its memory, but the
        // next channel's first element for a channel slice. So round up only for owners and refuse the other cases.
        long fill = (bytes + 3) / 4 * 4;
        if (start % 4 != 0 || (fill != bytes && !t.IsOwner))
            throw new ArgumentException($"Zero of the {t.Precision.Name()} view {t.Shape}: a view must start and end on 4-byte words (an even fp16 element offset and count)");
        if (_discarding) return;
        EnsureRecording();
        Hazards([Binding.Written(t)]);
        _device.Vk.CmdFillBuffer(_cb, t.Storage.Buffer, (ulong)start, (ulong)fill, 0);
        Timestamp("zero", 0, "zero");
    }

    /// <summary>Makes every earlier write visible to every later command.</summary>
    public void Barrier()
    {
        if (_discarding) return;
        EnsureRecording();
        var mb = new MemoryBarrier
        {
            SType = StructureType.MemoryBarrier,
            SrcAccessMask = AccessFlags.ShaderWriteBit | AccessFlags.TransferWriteBit | AccessFlags.ShaderReadBit | AccessFlags.TransferReadBit,
            DstAccessMask = AccessFlags.ShaderReadBit | AccessFlags.ShaderWriteBit | AccessFlags.TransferReadBit | AccessFlags.TransferWriteBit,
        };
        const PipelineStageFlags stages = PipelineStageFlags.ComputeShaderBit | PipelineStageFlags.TransferBit;
        _device.Vk.CmdPipelineBarrier(_cb, stages, stages, 0, 1, &mb, 0, null, 0, null);
        _pending.Clear();
        BarrierCount++;
    }

    private void Hazards(ReadOnlySpan<Binding> bindings)
    {
        bool conflict = false;
        foreach (var b in bindings)
        {
            var buf = b.Tensor.Storage.Buffer;
            var (s, e) = b.Tensor.ByteRange;
            foreach (var p in _pending)
            {
                if (p.Buffer.Handle == buf.Handle && s < p.End && p.Start < e && (p.Write || b.Write))
                {
                    conflict = true;
                    break;
                }
            }
            if (conflict) break;
        }
        if (conflict) Barrier();
        foreach (var b in bindings)
        {
            var (s, e) = b.Tensor.ByteRange;
            _pending.Add((b.Tensor.Storage.Buffer, s, e, b.Write));
        }
    }

    private void Timestamp(string label, long flops, string kernel)
    {
        if (!_timestamps) return;
        if (_labels.Count + 1 >= MaxTimestamps) return;
        _labels.Add((label, flops, kernel));
        _device.Vk.CmdWriteTimestamp(_cb, PipelineStageFlags.BottomOfPipeBit, _queries, (uint)_labels.Count);
    }

    /// <summary>Submits everything recorded and waits for the GPU to finish it.</summary>
    public void Submit()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_recording) return;
        var vk = _device.Vk;
        MakeWritesVisibleToHost();
        vk.EndCommandBuffer(_cb).Check("vkEndCommandBuffer");
        _recording = false;
        var cb = _cb;
        var submit = new SubmitInfo { SType = StructureType.SubmitInfo, CommandBufferCount = 1, PCommandBuffers = &cb };
        _device.Submit(in submit, _fence);
        var fence = _fence;
        vk.WaitForFences(_device.Handle, 1, in fence, true, ulong.MaxValue).Check("vkWaitForFences");
        vk.ResetFences(_device.Handle, 1, in fence).Check("vkResetFences");
        vk.ResetCommandBuffer(_cb, 0).Check("vkResetCommandBuffer");
        _pending.Clear();
        SubmitCount++;
        ReleaseRetiredScratch();
        ReleaseUploadStaging();
        CollectTimings();
    }

    /// <summary>
    /// A fence wait makes the batch's writes available but not visible to the host: downloads read mapped and
    /// staging memory right after it, so every batch ends with a barrier into the host stage.
    /// </summary>
    private void MakeWritesVisibleToHost()
    {
        var mb = new MemoryBarrier
        {
            SType = StructureType.MemoryBarrier,
            SrcAccessMask = AccessFlags.ShaderWriteBit | AccessFlags.TransferWriteBit,
            DstAccessMask = AccessFlags.HostReadBit,
        };
        _device.Vk.CmdPipelineBarrier(_cb, PipelineStageFlags.ComputeShaderBit | PipelineStageFlags.TransferBit, PipelineStageFlags.HostBit, 0, 1, &mb, 0, null, 0, null);
    }

    private void CollectTimings()
    {
        if (!_timestamps || _labels.Count == 0) return;
        var ticks = new ulong[_labels.Count + 1];
        fixed (ulong* p = ticks)
            _device.Vk.GetQueryPoolResults(_device.Handle, _queries, 0, (uint)ticks.Length, (nuint)(ticks.Length * 8), p, 8, QueryResultFlags.Result64Bit | QueryResultFlags.ResultWaitBit).Check("vkGetQueryPoolResults");
        double ns = _device.Info.TimestampPeriodNs;
        int bits = _device.Info.TimestampValidBits;
        ulong valid = bits is <= 0 or >= 64 ? ulong.MaxValue : (1UL << bits) - 1; // a counter of fewer bits wraps
        for (int i = 0; i < _labels.Count; i++)
            _timings.Add(new DispatchTiming(_labels[i].Label, ((ticks[i + 1] - ticks[i]) & valid) * ns / 1e6, _labels[i].Flops, _labels[i].Kernel));
        _labels.Clear();
    }

    public void ClearTimings() => _timings.Clear();

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        var vk = _device.Vk;
        if (_recording)
        {
            vk.EndCommandBuffer(_cb);
            _recording = false;
        }
        var cb = _cb;
        vk.FreeCommandBuffers(_device.Handle, _pool, 1, in cb);
        vk.DestroyCommandPool(_device.Handle, _pool, null);
        vk.DestroyFence(_device.Handle, _fence, null);
        if (_timestamps) vk.DestroyQueryPool(_device.Handle, _queries, null);
        DisposeScratch();
        ReleaseUploadStaging();
    }
}

using System.Runtime.InteropServices;
using Silk.NET.Vulkan;

namespace WfVae.Runtime;

public sealed unsafe partial class VulkanDevice
{
    /// <summary>A new dense float32 tensor owning its memory.</summary>
    public GpuTensor CreateTensor(int c, int t, int h, int w, int elementBytes = 4)
    {
        long count = (long)c * t * h * w;
        var storage = Memory.Allocate(Math.Max(1, count) * elementBytes);
        return new GpuTensor(storage, 0, c, t, h, w, (long)c * h * w, elementBytes, owner: true);
    }

    /// <summary>A new tensor holding <paramref name="data"/> (frame-major [T][C][H][W]).</summary>
    public GpuTensor Upload(ReadOnlySpan<float> data, int c, int t, int h, int w)
    {
        var tensor = CreateTensor(c, t, h, w);
        Upload(tensor, data);
        return tensor;
    }

    /// <summary>Writes frame-major float32 data into a tensor view. Waits for nothing: call it between submissions.</summary>
    public void Upload(GpuTensor dst, ReadOnlySpan<float> data)
    {
        if (data.Length != dst.ElementCount)
            throw new ArgumentException($"upload of {data.Length} values into {dst.Shape} ({dst.ElementCount} values)");
        if (dst.ElementBytes != 4) throw new NotSupportedException("Upload of float32 into a non-float32 tensor");
        var bytes = MemoryMarshal.AsBytes(data);
        long frameBytes = dst.FrameElements * 4;
        if (dst.Storage.HostVisible)
        {
            for (int f = 0; f < dst.T; f++)
                bytes.Slice((int)(f * frameBytes), (int)frameBytes).CopyTo(new Span<byte>(dst.Storage.HostPointer + (dst.Offset + f * dst.FrameStride) * 4, (int)frameBytes));
            return;
        }
        using var staging = Memory.Allocate(bytes.Length, MemoryUsage.Staging);
        bytes.CopyTo(new Span<byte>(staging.HostPointer, bytes.Length));
        var src = new GpuTensor(staging, 0, dst.C, dst.T, dst.H, dst.W, dst.FrameElements, 4, owner: false);
        using var rec = BeginCommands();
        rec.Copy(src, dst, "upload");
        rec.Submit();
    }

    /// <summary>Reads a tensor view back as frame-major float32 [T][C][H][W].</summary>
    public float[] Download(GpuTensor src)
    {
        var result = new float[src.ElementCount];
        Download(src, result);
        return result;
    }

    public void Download(GpuTensor src, Span<float> result)
    {
        if (result.Length != src.ElementCount) throw new ArgumentException($"download of {src.Shape} into {result.Length} values");
        if (src.ElementBytes != 4) throw new NotSupportedException("Download of a non-float32 tensor");
        var bytes = MemoryMarshal.AsBytes(result);
        long frameBytes = src.FrameElements * 4;
        if (src.Storage.HostVisible)
        {
            for (int f = 0; f < src.T; f++)
                new ReadOnlySpan<byte>(src.Storage.HostPointer + (src.Offset + f * src.FrameStride) * 4, (int)frameBytes).CopyTo(bytes.Slice((int)(f * frameBytes)));
            return;
        }
        using var staging = Memory.Allocate(bytes.Length, MemoryUsage.Staging);
        var dst = new GpuTensor(staging, 0, src.C, src.T, src.H, src.W, src.FrameElements, 4, owner: false);
        using (var rec = BeginCommands())
        {
            rec.Copy(src, dst, "download");
            rec.Submit();
        }
        new ReadOnlySpan<byte>(staging.HostPointer, bytes.Length).CopyTo(bytes);
    }
}

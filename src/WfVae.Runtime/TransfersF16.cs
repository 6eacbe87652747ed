using System.Runtime.InteropServices;

namespace WfVae.Runtime;

// fp16 (2-byte element) uploads and downloads, the same frame-by-frame logic as the float32 ones in Transfers.cs.
public sealed unsafe partial class VulkanDevice
{
    /// <summary>A new dense fp16 tensor holding <paramref name="data"/> (frame-major [T][C][H][W]).</summary>
    public GpuTensor UploadHalf(ReadOnlySpan<Half> data, int c, int t, int h, int w)
    {
        var tensor = CreateTensor(c, t, h, w, elementBytes: 2);
        Upload(tensor, data);
        return tensor;
    }

    /// <summary>Writes frame-major fp16 data into an fp16 tensor view. Call it between submissions.</summary>
    public void Upload(GpuTensor dst, ReadOnlySpan<Half> data)
    {
        if (data.Length != dst.ElementCount)
            throw new ArgumentException($"upload of {data.Length} values into {dst.Shape} ({dst.ElementCount} values)");
        if (dst.ElementBytes != 2) throw new NotSupportedException($"Upload of fp16 into a tensor of {dst.ElementBytes}-byte elements");
        var bytes = MemoryMarshal.AsBytes(data);
        long frameBytes = dst.FrameElements * 2;
        if (dst.Storage.HostVisible)
        {
            for (int f = 0; f < dst.T; f++)
                bytes.Slice((int)(f * frameBytes), (int)frameBytes).CopyTo(new Span<byte>(dst.Storage.HostPointer + (dst.Offset + f * dst.FrameStride) * 2, (int)frameBytes));
            return;
        }
        using var staging = Memory.Allocate(bytes.Length, MemoryUsage.Staging);
        bytes.CopyTo(new Span<byte>(staging.HostPointer, bytes.Length));
        var src = new GpuTensor(staging, 0, dst.C, dst.T, dst.H, dst.W, dst.FrameElements, 2, owner: false);
        using var rec = BeginCommands();
        rec.Copy(src, dst, "upload");
        rec.Submit();
    }

    /// <summary>Reads an fp16 tensor view back as frame-major fp16 [T][C][H][W].</summary>
    public Half[] DownloadHalf(GpuTensor src)
    {
        var result = new Half[src.ElementCount];
        Download(src, result);
        return result;
    }

    public void Download(GpuTensor src, Span<Half> result)
    {
        if (result.Length != src.ElementCount) throw new ArgumentException($"download of {src.Shape} into {result.Length} values");
        if (src.ElementBytes != 2) throw new NotSupportedException($"fp16 download of a tensor of {src.ElementBytes}-byte elements");
        var bytes = MemoryMarshal.AsBytes(result);
        long frameBytes = src.FrameElements * 2;
        if (src.Storage.HostVisible)
        {
            for (int f = 0; f < src.T; f++)
                new ReadOnlySpan<byte>(src.Storage.HostPointer + (src.Offset + f * src.FrameStride) * 2, (int)frameBytes).CopyTo(bytes.Slice((int)(f * frameBytes)));
            return;
        }
        using var staging = Memory.Allocate(bytes.Length, MemoryUsage.Staging);
        var dst = new GpuTensor(staging, 0, src.C, src.T, src.H, src.W, src.FrameElements, 2, owner: false);
        using (var rec = BeginCommands())
        {
            rec.Copy(src, dst, "download");
            rec.Submit();
        }
        new ReadOnlySpan<byte>(staging.HostPointer, bytes.Length).CopyTo(bytes);
    }
}

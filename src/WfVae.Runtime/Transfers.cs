using System.Runtime.InteropServices;
using Silk.NET.Vulkan;

namespace WfVae.Runtime;

public sealed unsafe partial class VulkanDevice
{
    /// <summary>A new dense tensor owning its memory (float32 unless <paramref name="elementBytes"/> is 2: fp16).</summary>
    public GpuTensor CreateTensor(int c, int t, int h, int w, int elementBytes = 4)
    {
        PrecisionInfo.FromElementBytes(elementBytes);
        long count = (long)c * t * h * w;
        var storage = Memory.Allocate(Math.Max(1, count) * elementBytes);
        return new GpuTensor(storage, 0, c, t, h, w, (long)c * h * w, elementBytes, owner: true);
    }

    public GpuTensor CreateTensor(int c, int t, int h, int w, Precision precision) => CreateTensor(c, t, h, w, precision.ElementBytes());

    /// <summary>A new tensor holding <paramref name="data"/> (frame-major [T][C][H][W]), stored in <paramref name="precision"/>.</summary>
    public GpuTensor Upload(ReadOnlySpan<float> data, int c, int t, int h, int w, Precision precision = Precision.Fp32)
    {
        var tensor = CreateTensor(c, t, h, w, precision);
        Upload(tensor, data);
        return tensor;
    }

    /// <summary>
    /// Writes frame-major float32 data into a tensor view, rounding to nearest-even halves for an fp16 tensor.
    /// Waits for nothing: call it between submissions.
    /// </summary>
    public void Upload(GpuTensor dst, ReadOnlySpan<float> data)
    {
        if (data.Length != dst.ElementCount)
            throw new ArgumentException($"upload of {data.Length} values into {dst.Shape} ({dst.ElementCount} values)");
        byte[]? halves = null;
        ReadOnlySpan<byte> bytes;
        if (dst.ElementBytes == 2)
        {
            halves = new byte[data.Length * 2];
            var h = MemoryMarshal.Cast<byte, Half>(halves.AsSpan());
            for (int i = 0; i < data.Length; i++) h[i] = (Half)data[i];
            bytes = halves;
        }
        else bytes = MemoryMarshal.AsBytes(data);
        int eb = dst.ElementBytes;
        long frameBytes = dst.FrameElements * eb;
        if (dst.Storage.HostVisible)
        {
            for (int f = 0; f < dst.T; f++)
                bytes.Slice((int)(f * frameBytes), (int)frameBytes).CopyTo(new Span<byte>(dst.Storage.HostPointer + (dst.Offset + f * dst.FrameStride) * eb, (int)frameBytes));
            return;
        }
        using var staging = Memory.Allocate(bytes.Length, MemoryUsage.Staging);
        bytes.CopyTo(new Span<byte>(staging.HostPointer, bytes.Length));
        var src = new GpuTensor(staging, 0, dst.C, dst.T, dst.H, dst.W, dst.FrameElements, eb, owner: false);
        using var rec = BeginCommands();
        rec.Copy(src, dst, "upload");
        rec.Submit();
    }

    /// <summary>Reads a tensor view back as frame-major float32 [T][C][H][W] (fp16 tensors are widened exactly).</summary>
    public float[] Download(GpuTensor src)
    {
        var result = new float[src.ElementCount];
        Download(src, result);
        return result;
    }

    public void Download(GpuTensor src, Span<float> result)
    {
        if (result.Length != src.ElementCount) throw new ArgumentException($"download of {src.Shape} into {result.Length} values");
        int eb = src.ElementBytes;
        var halves = eb == 2 ? new byte[result.Length * 2] : null;
        var bytes = halves ?? MemoryMarshal.AsBytes(result);
        long frameBytes = src.FrameElements * eb;
        if (src.Storage.HostVisible)
        {
            for (int f = 0; f < src.T; f++)
                new ReadOnlySpan<byte>(src.Storage.HostPointer + (src.Offset + f * src.FrameStride) * eb, (int)frameBytes).CopyTo(bytes.Slice((int)(f * frameBytes)));
        }
        else
        {
            using var staging = Memory.Allocate(bytes.Length, MemoryUsage.Staging);
            var dst = new GpuTensor(staging, 0, src.C, src.T, src.H, src.W, src.FrameElements, eb, owner: false);
            using (var rec = BeginCommands())
            {
                rec.Copy(src, dst, "download");
                rec.Submit();
            }
            new ReadOnlySpan<byte>(staging.HostPointer, bytes.Length).CopyTo(bytes);
        }
        if (halves != null)
        {
            var h = MemoryMarshal.Cast<byte, Half>(halves.AsSpan());
            for (int i = 0; i < result.Length; i++) result[i] = (float)h[i];
        }
    }
}

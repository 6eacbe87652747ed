using System.Numerics.Tensors;

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
    /// Waits for nothing when the tensor is mapped, else for its own staged copy: call it between submissions.
    /// </summary>
    public void Upload(GpuTensor dst, ReadOnlySpan<float> data)
    {
        HostTransfer.CheckLength(dst, data.Length, "upload");
        if (dst.Storage.HostVisible)
        {
            HostTransfer.Write(dst, data);
            return;
        }
        using var rec = BeginCommands();
        rec.Upload(dst, data);
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
        HostTransfer.CheckLength(src, result.Length, "download");
        if (src.Storage.HostVisible)
        {
            HostTransfer.Read(src, result);
            return;
        }
        using var rec = BeginCommands();
        using var pending = rec.Download(src);
        rec.Submit();
        pending.CopyTo(result);
    }
}

/// <summary>The host side of every transfer: frame-major float32 to and from mapped tensor views, fp16 rounded or widened.</summary>
internal static unsafe class HostTransfer
{
    public static void CheckLength(GpuTensor t, int values, string what)
    {
        if (values != t.ElementCount)
            throw new ArgumentException($"{what} of {values} values for the tensor {t.Shape} ({t.ElementCount} values)");
    }

    public static void Write(GpuTensor dst, ReadOnlySpan<float> data)
    {
        int frame = (int)dst.FrameElements;
        for (int f = 0; f < dst.T; f++)
        {
            var src = data.Slice(f * frame, frame);
            byte* at = FrameAt(dst, f);
            if (dst.ElementBytes == 4)
                src.CopyTo(new Span<float>(at, frame));
            else
                TensorPrimitives.ConvertToHalf(src, new Span<Half>(at, frame)); // nearest-even, as (Half)x, vectorized
        }
    }

    public static void Read(GpuTensor src, Span<float> result)
    {
        int frame = (int)src.FrameElements;
        for (int f = 0; f < src.T; f++)
        {
            var dst = result.Slice(f * frame, frame);
            byte* at = FrameAt(src, f);
            if (src.ElementBytes == 4)
                new ReadOnlySpan<float>(at, frame).CopyTo(dst);
            else
                TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(at, frame), dst);
        }
    }

    /// <summary>The host address of frame <paramref name="f"/> of a mapped tensor view.</summary>
    private static byte* FrameAt(GpuTensor t, int f) => t.Storage.HostPointer + (t.Offset + f * t.FrameStride) * t.ElementBytes;

    /// <summary>A dense host-visible tensor of <paramref name="like"/>'s shape and precision in staging memory.</summary>
    public static GpuTensor Staging(VulkanDevice device, GpuTensor like)
    {
        var memory = device.Memory.Allocate(Math.Max(1, like.ElementCount) * like.ElementBytes, MemoryUsage.Staging);
        return new GpuTensor(memory, 0, like.C, like.T, like.H, like.W, like.FrameElements, like.ElementBytes, owner: true);
    }
}

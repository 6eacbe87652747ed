using WfVae.Runtime;
using WfVae.Tests.Reference;

namespace WfVae.Tests.Operators;

/// <summary>
/// Moving <see cref="CpuTensor"/>s (channel-major [C][T][H][W]) to and from device tensors (frame-major), also
/// as channel-slice views of a larger tensor whose other channels hold a sentinel (to catch stray writes and
/// stride mistakes). Every helper takes the storage precision (fp32 by default); an fp16 sentinel is the sentinel's
/// nearest half.
/// </summary>
internal static class WaveTestTensors
{
    public const float Sentinel = -12345.5f;

    public static GpuTensor Up(VulkanDevice d, CpuTensor t, Precision p = Precision.Fp32) => d.Upload(t.ToFrameMajor(), t.C, t.T, t.H, t.W, p);

    public static CpuTensor Down(VulkanDevice d, GpuTensor g) => CpuTensor.FromFrameMajor(d.Download(g), g.C, g.T, g.H, g.W);

    /// <summary>A tensor of <paramref name="before"/> + c + <paramref name="after"/> channels filled with the sentinel; returns it and the view of channels [before, before + c).</summary>
    public static (GpuTensor Owner, GpuTensor View) Padded(VulkanDevice d, int c, int t, int h, int w, int before, int after,
        Precision p = Precision.Fp32)
    {
        int total = before + c + after;
        var owner = d.Upload(Enumerable.Repeat(Sentinel, total * t * h * w).ToArray(), total, t, h, w, p);
        return (owner, owner.Channels(before, c));
    }

    /// <summary><paramref name="x"/> uploaded into a channel slice of a sentinel-filled larger tensor.</summary>
    public static (GpuTensor Owner, GpuTensor View) UpStrided(VulkanDevice d, CpuTensor x, int before, int after,
        Precision p = Precision.Fp32)
    {
        var (owner, view) = Padded(d, x.C, x.T, x.H, x.W, before, after, p);
        d.Upload(view, x.ToFrameMajor());
        return (owner, view);
    }

    /// <summary>True when every channel of <paramref name="owner"/> outside [start, start + count) still holds the sentinel.</summary>
    public static bool OutsideUntouched(VulkanDevice d, GpuTensor owner, int start, int count)
    {
        var all = Down(d, owner);
        float sentinel = Sentinel.In(owner.Precision);
        for (int c = 0; c < owner.C; c++)
        {
            if (c >= start && c < start + count) continue;
            for (int t = 0; t < owner.T; t++)
                for (int y = 0; y < owner.H; y++)
                    for (int x = 0; x < owner.W; x++)
                        if (all[c, t, y, x] != sentinel) return false;
        }
        return true;
    }

    public static bool BitwiseEqual(CpuTensor a, CpuTensor b)
    {
        if (!a.SameShape(b)) return false;
        for (int i = 0; i < a.Length; i++)
            if (BitConverter.SingleToInt32Bits(a.Data[i]) != BitConverter.SingleToInt32Bits(b.Data[i])) return false;
        return true;
    }
}

namespace WfVae.Model;

/// <summary>
/// A float32 tensor in host memory in the official PyTorch layout [N, C, T, H, W] (W fastest), which is
/// what callers and safetensors files use. The engine stores frames frame-major on the device; the
/// conversions live here.
/// </summary>
public sealed class HostTensor
{
    public float[] Data { get; }
    public int N { get; }
    public int C { get; }
    public int T { get; }
    public int H { get; }
    public int W { get; }

    public HostTensor(float[] data, int n, int c, int t, int h, int w)
    {
        if ((long)n * c * t * h * w != data.LongLength)
            throw new ArgumentException($"tensor data has {data.LongLength} values, shape [{n}, {c}, {t}, {h}, {w}] needs {(long)n * c * t * h * w}");
        (Data, N, C, T, H, W) = (data, n, c, t, h, w);
    }

    public HostTensor(int n, int c, int t, int h, int w) : this(new float[(long)n * c * t * h * w], n, c, t, h, w) { }

    public long[] Shape => new long[] { N, C, T, H, W };
    public string ShapeText => $"[{N}, {C}, {T}, {H}, {W}]";
    private long ItemSize => (long)C * T * H * W;

    /// <summary>Batch item <paramref name="n"/> as frames [T][C][H][W].</summary>
    public float[] ToFrameMajor(int n)
    {
        var result = new float[ItemSize];
        long plane = (long)H * W, item = n * ItemSize;
        for (int c = 0; c < C; c++)
            for (int t = 0; t < T; t++)
                Array.Copy(Data, item + ((long)c * T + t) * plane, result, ((long)t * C + c) * plane, plane);
        return result;
    }

    /// <summary>Writes frames [count][C][H][W] into batch item <paramref name="n"/> starting at frame <paramref name="t0"/>.</summary>
    public void SetFrames(int n, int t0, ReadOnlySpan<float> frames, int count)
    {
        long plane = (long)H * W, item = n * ItemSize;
        if (frames.Length != count * C * plane) throw new ArgumentException("frame data does not match the tensor's frame size");
        for (int t = 0; t < count; t++)
            for (int c = 0; c < C; c++)
                frames.Slice((int)(((long)t * C + c) * plane), (int)plane).CopyTo(Data.AsSpan((int)(item + ((long)c * T + t0 + t) * plane), (int)plane));
    }

    /// <summary>Assembles a single-item tensor from frame-major frames [T][C][H][W].</summary>
    public static HostTensor FromFrameMajor(ReadOnlySpan<float> frames, int c, int t, int h, int w)
    {
        var r = new HostTensor(1, c, t, h, w);
        r.SetFrames(0, 0, frames, t);
        return r;
    }
}

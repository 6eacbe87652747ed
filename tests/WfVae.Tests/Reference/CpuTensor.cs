namespace WfVae.Tests.Reference;

/// <summary>
/// A plain float32 tensor of shape (C, T, H, W) for batch 1, stored channel-major exactly like the
/// golden files' [1, C, T, H, W]: index = ((c·T + t)·H + y)·W + x. The GPU engine stores tensors
/// frame-major ([T][C][H][W]); <see cref="ToFrameMajor"/> / <see cref="FromFrameMajor"/> convert.
/// </summary>
public sealed class CpuTensor
{
    public int C { get; }
    public int T { get; }
    public int H { get; }
    public int W { get; }
    public float[] Data { get; }

    public CpuTensor(int c, int t, int h, int w)
        : this(c, t, h, w, new float[checked(c * t * h * w)]) { }

    public CpuTensor(int c, int t, int h, int w, float[] data)
    {
        if (c < 0 || t < 0 || h < 0 || w < 0) throw new ArgumentException($"negative shape ({c},{t},{h},{w})");
        if (data.Length != (long)c * t * h * w)
            throw new ArgumentException($"data length {data.Length} does not match shape ({c},{t},{h},{w})");
        C = c; T = t; H = h; W = w; Data = data;
    }

    public int Length => Data.Length;
    public int FrameSize => H * W;
    public (int C, int T, int H, int W) Shape => (C, T, H, W);
    public override string ToString() => $"CpuTensor[{C}, {T}, {H}, {W}]";

    public int Index(int c, int t, int y, int x) => ((c * T + t) * H + y) * W + x;

    public float this[int c, int t, int y, int x]
    {
        get => Data[Index(c, t, y, x)];
        set => Data[Index(c, t, y, x)] = value;
    }

    public CpuTensor Clone() => new(C, T, H, W, (float[])Data.Clone());

    public bool SameShape(CpuTensor o) => C == o.C && T == o.T && H == o.H && W == o.W;

    /// <summary>Deterministic uniform values in [-scale, scale) from System.Random(seed).</summary>
    public static CpuTensor Random(int c, int t, int h, int w, int seed, float scale = 1f)
    {
        var rng = new Random(seed);
        var r = new CpuTensor(c, t, h, w);
        for (int i = 0; i < r.Data.Length; i++) r.Data[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
        return r;
    }

    /// <summary>Channels [start, start + count).</summary>
    public CpuTensor SliceChannels(int start, int count)
    {
        if (start < 0 || count < 0 || start + count > C) throw new ArgumentOutOfRangeException(nameof(start));
        var r = new CpuTensor(count, T, H, W);
        Array.Copy(Data, start * T * H * W, r.Data, 0, count * T * H * W);
        return r;
    }

    /// <summary>Concatenation along channels (first argument's channels first).</summary>
    public static CpuTensor ConcatChannels(params CpuTensor[] parts)
    {
        var a = parts[0];
        foreach (var p in parts)
            if (p.T != a.T || p.H != a.H || p.W != a.W) throw new ArgumentException($"ConcatChannels: {p} vs {a}");
        var r = new CpuTensor(parts.Sum(p => p.C), a.T, a.H, a.W);
        int off = 0;
        foreach (var p in parts) { Array.Copy(p.Data, 0, r.Data, off, p.Length); off += p.Length; }
        return r;
    }

    /// <summary>Frames [start, start + count).</summary>
    public CpuTensor SliceFrames(int start, int count)
    {
        if (start < 0 || count < 0 || start + count > T) throw new ArgumentOutOfRangeException(nameof(start));
        var r = new CpuTensor(C, count, H, W);
        int fs = H * W;
        for (int c = 0; c < C; c++)
            Array.Copy(Data, (c * T + start) * fs, r.Data, c * count * fs, count * fs);
        return r;
    }

    /// <summary>Concatenation along time (first argument's frames first).</summary>
    public static CpuTensor ConcatFrames(params CpuTensor[] parts)
    {
        var a = parts[0];
        foreach (var p in parts)
            if (p.C != a.C || p.H != a.H || p.W != a.W) throw new ArgumentException($"ConcatFrames: {p} vs {a}");
        int t = parts.Sum(p => p.T), fs = a.H * a.W;
        var r = new CpuTensor(a.C, t, a.H, a.W);
        for (int c = 0; c < a.C; c++)
        {
            int off = 0;
            foreach (var p in parts)
            {
                Array.Copy(p.Data, c * p.T * fs, r.Data, (c * t + off) * fs, p.T * fs);
                off += p.T;
            }
        }
        return r;
    }

    /// <summary>Layout [T][C][H][W] (the GPU engine's frame-major layout).</summary>
    public float[] ToFrameMajor()
    {
        var r = new float[Length];
        int fs = H * W;
        for (int c = 0; c < C; c++)
            for (int t = 0; t < T; t++)
                Array.Copy(Data, (c * T + t) * fs, r, (t * C + c) * fs, fs);
        return r;
    }

    /// <summary>Inverse of <see cref="ToFrameMajor"/>.</summary>
    public static CpuTensor FromFrameMajor(float[] data, int c, int t, int h, int w)
    {
        if (data.Length != (long)c * t * h * w) throw new ArgumentException("frame-major data length mismatch");
        var r = new CpuTensor(c, t, h, w);
        int fs = h * w;
        for (int ci = 0; ci < c; ci++)
            for (int ti = 0; ti < t; ti++)
                Array.Copy(data, (ti * c + ci) * fs, r.Data, (ci * t + ti) * fs, fs);
        return r;
    }

    public double Rms()
    {
        if (Length == 0) return 0;
        double s = 0;
        foreach (var v in Data) s += (double)v * v;
        return Math.Sqrt(s / Length);
    }

    public static double MaxAbsDiff(CpuTensor actual, CpuTensor expected)
    {
        RequireSameShape(actual, expected);
        double m = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double d = Math.Abs((double)actual.Data[i] - expected.Data[i]);
            if (!(d <= m)) m = d; // NaN propagates
        }
        return m;
    }

    /// <summary>The golden README's metric: max|a − e| / max(1e-6, rms(e)); shapes must match.</summary>
    public static double RelErr(CpuTensor actual, CpuTensor expected)
        => MaxAbsDiff(actual, expected) / Math.Max(1e-6, expected.Rms());

    private static void RequireSameShape(CpuTensor a, CpuTensor e)
    {
        if (!a.SameShape(e)) throw new ArgumentException($"shape mismatch: actual {a} vs expected {e}");
    }
}

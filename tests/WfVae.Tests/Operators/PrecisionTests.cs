using WfVae.Operators;
using WfVae.Runtime;
using WfVae.Tests.Reference;
using Xunit;
using Xunit.Abstractions;

namespace WfVae.Tests.Operators;

/// <summary>
/// The fp16 storage path across operator families: the fp16 shader really runs (its output is the fp32 output
/// rounded to halves, not the fp32 output itself), mixing precisions is refused, and fp16 uploads/downloads are
/// the host's nearest-even halves, also through strided views.
/// </summary>
[Collection(Gpu.Ops)]
public sealed class PrecisionTests(GpuFixture gpu, ITestOutputHelper output)
{
    private VulkanDevice Dev => gpu.Device;

    public static TheoryData<string> Ops() => new()
    {
        "conv texel", "conv ssbo", "layernorm", "groupnorm", "attention", "haar3d", "inverse haar2d", "bilinear", "sample", "silu", "axpy",
    };

    /// <summary>
    /// One small case per family on odd shapes (inputs already halves, so both precisions see the same values), run
    /// with every operand in <paramref name="p"/>. Returns the output (frame-major, widened) and the fp32 test's
    /// rel_err tolerance of that family (the fp32 chain's own error, used as the slack between two fp32 runs).
    /// </summary>
    private (float[] Y, double Fp32Tol) Run(string op, Precision p)
    {
        // Kernel options are per device: the two conv cases run on devices that force their variant.
        var d = op switch { "conv texel" => gpu.With(KernelVariant.Texel), "conv ssbo" => gpu.With(KernelVariant.Ssbo), _ => Dev };
        GpuTensor U(CpuTensor t) => d.Upload(t.ToFrameMajor(), t.C, t.T, t.H, t.W, p);
        CpuTensor R(int c, int t, int h, int w, int seed, float scale = 1f) => Fp16.Round(CpuTensor.Random(c, t, h, w, seed, scale));
        var owned = new List<IDisposable>();
        T Own<T>(T x) where T : IDisposable { owned.Add(x); return x; }
        try
        {
            using var rec = d.BeginCommands();
            GpuTensor y;
            double tol;
            switch (op)
            {
                case "conv texel":
                case "conv ssbo":
                {
                    // Cin 5 → Cout 17, 3×3×3, 2 past frames, residual, 7×13.
                    int k = 5 * 27;
                    var wt = Fp16.Round(CpuTensor.Random(1, 1, 1, 17 * k, 3, (float)(1 / Math.Sqrt(k))).Data);
                    var b = Fp16.Round(CpuTensor.Random(1, 1, 1, 17, 4, 0.5f).Data);
                    var cw = Own(ConvWeights.Upload(d, wt, b, 17, 5, 3, 3, 3, p));
                    var past = Own(U(R(5, 2, 7, 13, 5)));
                    var x = Own(U(R(5, 3, 7, 13, 6)));
                    var res = Own(U(R(17, 3, 7, 13, 7)));
                    y = Own(d.CreateTensor(17, 3, 7, 13, p));
                    Conv.Forward(rec, past, x, cw, y, residual: res);
                    tol = 1e-5;
                    break;
                }
                case "layernorm":
                case "groupnorm":
                {
                    var x = Own(U(R(32, 3, 5, 7, 8, 2f)));
                    var g = Own(Norm.UploadVector(d, CpuTensor.Random(32, 1, 1, 1, 9, 0.5f).Data.Select(v => v + 1).ToArray()));
                    var bb = Own(Norm.UploadVector(d, CpuTensor.Random(32, 1, 1, 1, 10, 0.5f).Data));
                    y = Own(d.CreateTensor(32, 3, 5, 7, p));
                    if (op == "layernorm") Norm.LayerNorm(rec, x, g, bb, y, silu: true);
                    else Norm.GroupNorm(rec, x, g, bb, y, silu: true, perFrame: false, Own(new TensorArena(d)));
                    tol = 1e-5;
                    break;
                }
                case "attention":
                {
                    var q = Own(U(R(24, 2, 5, 7, 11, 3f)));
                    var k = Own(U(R(24, 2, 5, 7, 12, 3f)));
                    var v = Own(U(R(24, 2, 5, 7, 13)));
                    y = Own(d.CreateTensor(24, 2, 5, 7, p));
                    Attention.Forward(rec, q, k, v, y, 1f / MathF.Sqrt(24));
                    tol = 3e-5;
                    break;
                }
                case "haar3d":
                {
                    var x = Own(U(R(3, 5, 9, 13, 14)));
                    y = Own(d.CreateTensor(24, 3, 4, 6, p));
                    Haar.Forward3D(rec, x.Frames(0, 1), x, y);
                    tol = 2e-6;
                    break;
                }
                case "inverse haar2d":
                {
                    var x = Own(U(R(12, 2, 5, 7, 15)));
                    var l = Own(U(R(3, 2, 5, 7, 16)));
                    y = Own(d.CreateTensor(3, 2, 10, 14, p));
                    Haar.Inverse2D(rec, x, y, l);
                    tol = 2e-6;
                    break;
                }
                case "bilinear":
                {
                    var a = Own(U(R(5, 2, 5, 7, 17)));
                    var b = Own(U(R(5, 2, 5, 7, 18)));
                    y = Own(d.CreateTensor(5, 2, 10, 14, p));
                    Resample.BlendBilinear2x(rec, a, b, 0.25f, 0.75f, y);
                    tol = 1e-6;
                    break;
                }
                case "sample":
                {
                    var m = Own(U(R(5, 2, 5, 7, 19, 3f)));
                    var lv = Own(U(R(5, 2, 5, 7, 20, 4f)));
                    y = Own(d.CreateTensor(5, 2, 5, 7, p));
                    Posterior.Sample(rec, m, lv, y, seed: 42);
                    tol = 2e-5;  // float32 exp/log/cos of the generator: a few ulps of the sample (PosteriorTests)
                    break;
                }
                case "silu":
                case "axpy":
                {
                    var a = Own(U(R(5, 3, 7, 13, 21, 4f)));
                    var b = Own(U(R(5, 3, 7, 13, 22, 2f)));
                    y = Own(d.CreateTensor(5, 3, 7, 13, p));
                    if (op == "silu") Elementwise.Silu(rec, a, y);
                    else Elementwise.Axpy(rec, a, 1.3f, b, y);
                    tol = 2e-6;
                    break;
                }
                default: throw new ArgumentException(op);
            }
            rec.Submit();
            return (d.Download(y), tol);
        }
        finally
        {
            foreach (var o in owned) o.Dispose();
        }
    }

    public static TheoryData<string> MixOps() => new()
    {
        "add", "conv x", "conv weights", "layernorm", "groupnorm", "attention", "haar", "resample", "split", "sample",
    };

    /// <summary>An fp16 x with an fp32 y (or fp32 weights for an fp16 conv) is refused naming both precisions.</summary>
    [Theory]
    [MemberData(nameof(MixOps))]
    public void MixingFp16AndFp32OperandsThrows(string op)
    {
        var d = Dev;
        var owned = new List<GpuTensor>();
        GpuTensor T16(int c, int t, int h, int w) { var g = d.CreateTensor(c, t, h, w, Precision.Fp16); owned.Add(g); return g; }
        GpuTensor T32(int c, int t, int h, int w) { var g = d.CreateTensor(c, t, h, w, Precision.Fp32); owned.Add(g); return g; }
        using var arena = new TensorArena(d);
        using var gamma = Norm.UploadVector(d, new float[32]);
        using var w32 = ConvWeights.Upload(d, new float[5 * 3 * 27], new float[5], 5, 3, 3, 3, 3, Precision.Fp32);
        using var w16 = ConvWeights.Upload(d, new float[5 * 3 * 27], new float[5], 5, 3, 3, 3, 3, Precision.Fp16);
        try
        {
            using var rec = d.BeginCommands();
            Action act = op switch
            {
                "add" => () => Elementwise.Add(rec, T16(3, 2, 5, 7), T16(3, 2, 5, 7), T32(3, 2, 5, 7)),
                "conv x" => () => Conv.Forward(rec, T16(3, 2, 5, 7), T16(3, 2, 5, 7), w16, T32(5, 2, 5, 7)),
                "conv weights" => () => Conv.Forward(rec, T16(3, 2, 5, 7), T16(3, 2, 5, 7), w32, T16(5, 2, 5, 7)),
                "layernorm" => () => Norm.LayerNorm(rec, T16(32, 2, 5, 7), gamma, gamma, T32(32, 2, 5, 7), false),
                "groupnorm" => () => Norm.GroupNorm(rec, T16(32, 2, 5, 7), gamma, gamma, T32(32, 2, 5, 7), false, false, arena),
                "attention" => () => Attention.Forward(rec, T16(8, 1, 5, 7), T16(8, 1, 5, 7), T16(8, 1, 5, 7), T32(8, 1, 5, 7), 0.5f),
                "haar" => () => Haar.Forward2D(rec, T16(3, 2, 6, 8), T32(12, 2, 3, 4)),
                "resample" => () => Resample.Nearest2x(rec, T16(3, 2, 5, 7), T32(3, 2, 10, 14)),
                "split" => () => Posterior.Split(rec, T16(6, 2, 5, 7), T16(3, 2, 5, 7), T32(3, 2, 5, 7)),
                "sample" => () => Posterior.Sample(rec, T16(3, 2, 5, 7), T16(3, 2, 5, 7), T32(3, 2, 5, 7), 1),
                _ => throw new ArgumentException(op),
            };
            var e = Assert.Throws<ArgumentException>(act);
            output.WriteLine($"{op}: {e.Message}");
            Assert.Contains("fp16", e.Message);
            Assert.Contains("fp32", e.Message);
            rec.Submit();
        }
        finally
        {
            foreach (var g in owned) g.Dispose();
        }
        gpu.AssertClean();
    }

    /// <summary>
    /// Values covering the half range: ordinary values, ties and near-ties, the largest half, overflow to ±∞,
    /// subnormals and underflow to ±0, NaN.
    /// </summary>
    private static float[] HalfRangeValues(int n, int seed)
    {
        var rng = new Random(seed);
        var special = new[]
        {
            0f, -0f, 1f, -1f, 65504f, -65504f, 65520f, 1e6f, -1e6f, float.PositiveInfinity, float.NegativeInfinity, float.NaN,
            6.1035156e-5f, 5.9604645e-8f, 2.9802322e-8f, 2.98e-8f, 1e-9f, -3e-6f, 1f + 1f / 2048, 1f + 3f / 2048, 2049f, 2051f, 0.1f, -1.0009766f,
        };
        var v = new float[n];
        for (int i = 0; i < n; i++)
            v[i] = i < special.Length ? special[i] : (float)((rng.NextDouble() * 2 - 1) * Math.Pow(2, rng.Next(-26, 17)));
        return v;
    }

    [Fact]
    public void Fp16UploadDownloadRoundTripIsTheHostsHalfBitForBit()
    {
        var d = Dev;
        const int c = 7, t = 3, h = 5, w = 9;
        var data = HalfRangeValues(c * t * h * w, 1);
        using var g = d.Upload(data, c, t, h, w, Precision.Fp16);
        Assert.Equal(Precision.Fp16, g.Precision);
        Assert.Equal(2, g.ElementBytes);
        var back = d.Download(g);
        ReferenceAssert.Bits(Fp16.Round(data), back, "dense round trip");
        Assert.Contains(back, float.IsPositiveInfinity);   // 65520 and 1e6 overflow
        Assert.Contains(back, v => v != 0 && Math.Abs(v) < 6.1e-5f); // subnormal halves survive

        // Strided: channels 2..4, frames 1..2 (FrameStride = 7·45 elements, not dense).
        var view = g.Channels(2, 3).Frames(1, 2);
        Assert.False(view.IsDense);
        var patch = HalfRangeValues((int)view.ElementCount, 2).Reverse().ToArray();
        d.Upload(view, patch);
        ReferenceAssert.Bits(Fp16.Round(patch), d.Download(view), "strided view round trip");
        // Everything outside the view is unchanged, everything inside is the patch: compare the whole tensor.
        var expected = Fp16.Round(data);
        int plane = h * w;
        for (int f = 0; f < 2; f++)
            for (int ch = 0; ch < 3; ch++)
                Array.Copy(Fp16.Round(patch), (f * 3 + ch) * plane, expected, ((1 + f) * c + 2 + ch) * plane, plane);
        ReferenceAssert.Bits(expected, d.Download(g), "whole tensor after the strided upload");
        gpu.AssertClean();
    }

    /// <summary>
    /// Zeroing fp16 views (CommandRecorder.Zero fills whole 4-byte words): a whole tensor of odd size and an even-sized
    /// aligned channel slice are zeroed exactly; a slice ending mid-word (which used to zero the next channel's first
    /// element) or starting mid-word (invalid vkCmdFillBuffer offset) is refused, leaving the data alone.
    /// </summary>
    [Fact]
    public void Fp16ZeroNeverTouchesTheNeighbouringHalf()
    {
        var d = Dev;
        var ones = Enumerable.Repeat(1f, 5 * 3).ToArray();
        using var g = d.Upload(ones, 5, 1, 1, 3, Precision.Fp16);   // 15 halves: odd size, plane of 3 (odd)
        using (var rec = d.BeginCommands())
        {
            Assert.Contains("fp16", Assert.Throws<ArgumentException>(() => rec.Zero(g.Channels(0, 1))).Message);  // ends mid-word
            Assert.Throws<ArgumentException>(() => rec.Zero(g.Channels(1, 1)));                                  // starts mid-word
            rec.Zero(g.Channels(2, 2));   // elements 6..11: whole words
            rec.Submit();
        }
        Assert.Equal(new float[] { 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1 }, d.Download(g));
        using (var rec = d.BeginCommands())
        {
            rec.Zero(g);   // the owner: the half after its last element is allocation padding
            rec.Submit();
        }
        Assert.All(d.Download(g), v => Assert.Equal(0f, v));
        gpu.AssertClean();
    }
}

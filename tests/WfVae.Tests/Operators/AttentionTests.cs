using WfVae.Operators;
using WfVae.Runtime;
using WfVae.Tests.Reference;
using Xunit;
using Xunit.Abstractions;

namespace WfVae.Tests.Operators;

/// <summary>The flash attention core against CpuOps.AttentionCore (double precision, full softmax).</summary>
[Collection(Gpu.Ops)]
public sealed class AttentionTests(GpuFixture gpu, ITestOutputHelper output)
{
    // Inputs are scaled so that scores have a spread of several units (peaky softmax, the online max really
    // changes between key blocks). Scores: fp32 dot products of C ≤ 768 terms of magnitude ≤ 9, scaled by
    // 1/sqrt(C): absolute error ~sqrt(C)·9·6e-8/sqrt(C) ≈ 5e-7, i.e. ~5e-7 relative in each probability;
    // probability sums and P·V sums over N ≤ 4096 keys add ~sqrt(N)·6e-8 ≈ 4e-6 at most. Expected max error
    // ≲ 5e-6 of rms; 3e-5 leaves margin while any indexing or rescaling slip gives O(1e-1).
    private const double Tol = 3e-5;
    // fp16 (see Fp16): q, k, v rounded to halves on the host and the reference run on those; the shader's arithmetic is
    // the fp32 one above and the output is rounded once to a half: Tol + 2⁻¹¹·max|e|/rms(e) (≈ 2e-3 for these
    // outputs, convex combinations of uniform values with max/rms ≈ 3–4).

    private VulkanDevice Dev => gpu.Device;

    private static CpuTensor Read(VulkanDevice d, GpuTensor t) => CpuTensor.FromFrameMajor(d.Download(t), t.C, t.T, t.H, t.W);

    private void Check(string what, CpuTensor actual, CpuTensor expected, double tol) =>
        ReferenceAssert.Close(output, what, actual, expected, tol);

    /// <summary>q, k, v as channel slices [C, 2C, 3C) of one qkv tensor, as a fused 1×1 projection would write them.</summary>
    private (GpuTensor Qkv, CpuTensor Q, CpuTensor K, CpuTensor V) MakeQkv(int c, int t, int h, int w, int seed, bool strided,
        Precision p = Precision.Fp32)
    {
        float amp = 3f;
        var q = CpuTensor.Random(c, t, h, w, seed, amp).In(p);
        var k = CpuTensor.Random(c, t, h, w, seed + 1, amp).In(p);
        var v = CpuTensor.Random(c, t, h, w, seed + 2, 1f).In(p);
        var parts = strided ? new[] { CpuTensor.Random(1, t, h, w, seed + 3), q, k, v } : new[] { q, k, v };
        var all = CpuTensor.ConcatChannels(parts);
        return (Dev.Upload(all.ToFrameMajor(), all.C, t, h, w, p), q, k, v);
    }

    [Fact]
    public void FramesAreIndependentAndStreamingIsBitIdentical()
    {
        const int c = 24, t = 4, h = 5, w = 9;
        var (qkv, _, _, _) = MakeQkv(c, t, h, w, 200, strided: true);
        using var __ = qkv;
        GpuTensor Q(int f, int n) => qkv.Channels(1, c).Frames(f, n);
        GpuTensor K(int f, int n) => qkv.Channels(1 + c, c).Frames(f, n);
        GpuTensor V(int f, int n) => qkv.Channels(1 + 2 * c, c).Frames(f, n);
        using var whole = Dev.CreateTensor(c, t, h, w);
        using var streamed = Dev.CreateTensor(c, t, h, w);
        float scale = 1f / MathF.Sqrt(c);
        using (var rec = Dev.BeginCommands())
        {
            Attention.Forward(rec, Q(0, t), K(0, t), V(0, t), whole, scale);
            Attention.Forward(rec, Q(0, 1), K(0, 1), V(0, 1), streamed.Frames(0, 1), scale);
            Attention.Forward(rec, Q(1, 3), K(1, 3), V(1, 3), streamed.Frames(1, 3), scale);
            rec.Submit();
        }
        Assert.Equal(Dev.Download(whole), Dev.Download(streamed));
        gpu.AssertClean();
    }

    [Fact]
    public void LargeInputRunsWithoutNxNMemoryAndMatchesSampledRows()
    {
        // N = 2048 (16 MiB if the scores were materialised). N = 4096 works the same (checked: 0 bytes of growth,
        // rel_err 6.5e-6) but takes ~4x longer on lavapipe, too slow for the default run.
        const int c = 64, h = 32, w = 64, n = h * w;
        var (qkv, q, k, v) = MakeQkv(c, 1, h, w, 300, strided: false);
        using var _ = qkv;
        using var o = Dev.CreateTensor(c, 1, h, w);
        long before = Dev.Memory.CurrentBytes;
        Dev.Memory.ResetPeak();
        float scale = 1f / MathF.Sqrt(c);
        using (var rec = Dev.BeginCommands())
        {
            Attention.Forward(rec, qkv.Channels(0, c), qkv.Channels(c, c), qkv.Channels(2 * c, c), o, scale);
            rec.Submit();
        }
        long growth = Dev.Memory.PeakBytes - before;
        output.WriteLine($"peak memory growth during attention: {growth} bytes (N·N·4 = {(long)n * n * 4})");
        Assert.True(growth < (long)n * n * 4 / 64, $"attention allocated {growth} bytes");

        int[] tokens = { 0, 1, 15, 16, 255, 256, 777, 1500, 2047 };
        var expected = CpuOps.AttentionCore(q, k, v, scale, tokens);
        var got = Read(Dev, o);
        var e = new CpuTensor(c, 1, 1, tokens.Length);
        var a = new CpuTensor(c, 1, 1, tokens.Length);
        for (int ch = 0; ch < c; ch++)
            for (int i = 0; i < tokens.Length; i++)
            {
                e.Data[ch * tokens.Length + i] = expected.Data[ch * n + tokens[i]];
                a.Data[ch * tokens.Length + i] = got.Data[ch * n + tokens[i]];
            }
        Check($"attention N={n} C={c} sampled rows", a, e, Tol);
        gpu.AssertClean();
    }

    /// <summary>
    /// attention_texel (texel views, Q read per channel instead of staged, keys past N skipping the score loop) and the
    /// plain kernel run the same fma chains on the same values: same bits. N = 45 (a partial key block, queries past N in
    /// the last block), N = 300 (two key blocks), C = 260 (two accumulators per invocation).
    /// </summary>
    [Theory]
    [InlineData(24, 2, 5, 9, Precision.Fp32)]
    [InlineData(260, 1, 15, 20, Precision.Fp32)]
    [InlineData(24, 2, 5, 9, Precision.Fp16)]
    public void TexelAndPlainKernelsGiveIdenticalBits(int c, int t, int h, int w, Precision p)
    {
        float scale = 1f / MathF.Sqrt(c);
        var all = CpuTensor.Random(3 * c + 1, t, h, w, 400, 3f);
        float[] Run(KernelVariant v)
        {
            var d = gpu.With(v);
            Assert.Equal(v != KernelVariant.Ssbo, Conv.UsesTexels(d, p));
            using var qkv = d.Upload(all.ToFrameMajor(), all.C, t, h, w, p);
            using var o = d.CreateTensor(c, t, h, w, p);
            using (var rec = d.BeginCommands())
            {
                Attention.Forward(rec, qkv.Channels(1, c), qkv.Channels(1 + c, c), qkv.Channels(1 + 2 * c, c), o, scale);
                rec.Submit();
            }
            return d.Download(o);
        }
        var texel = Run(KernelVariant.Texel);
        var plain = Run(KernelVariant.Ssbo);
        ReferenceAssert.Bits(texel, plain, "texel vs plain");
        gpu.AssertClean();
    }

    [Fact]
    public void FlopsFollowTheSpec()
    {
        using var q = Dev.CreateTensor(768, 2, 32, 32);
        Assert.Equal(2L * 2 * (2L * 1024 * 1024 * 768), Attention.Flops(q)); // 2 frames · 2 matmuls · 2·N²·C
    }
}

using WfVae.Operators;
using WfVae.Runtime;
using WfVae.Tests.Reference;

namespace WfVae.Tests.Operators;

/// <summary>
/// Every operator family on odd, non-square shapes, one <see cref="OpCase"/> per line. Adding an operator means its
/// shader, its descriptor and dispatcher, and an entry here. Tolerances are the fp32 rel_err bounds argued in each
/// family's test file (the chain's own rounding with a margin, far below what an indexing slip gives); fp16 adds the
/// one final rounding (<see cref="Fp16"/>).
/// </summary>
internal static class OpTable
{
    private const double ConvTol = 1e-5, NormTol = 1e-5, AttentionTol = 3e-5, HaarTol = 2e-6, ResampleTol = 1e-6;

    public static IReadOnlyList<OpCase> All { get; } = Build();

    public static OpCase Find(string name) => All.Single(c => c.Name == name);

    private static List<OpCase> Build()
    {
        var cases = new List<OpCase>();
        foreach (var v in new[] { KernelVariant.Ssbo, KernelVariant.Texel, KernelVariant.TexelRows })
            cases.AddRange(ConvCases(v));
        cases.AddRange(PointwiseCases());
        foreach (var v in new[] { KernelVariant.Ssbo, KernelVariant.Texel })
            foreach (var tile in new[] { WinogradTile.F2, WinogradTile.F4 })
                cases.AddRange(WinogradCases(v, tile));
        cases.AddRange(NormCases());
        cases.AddRange(WaveletCases());
        cases.AddRange(ResampleCases());
        cases.AddRange(PosteriorCases());
        cases.AddRange(ElementwiseCases());
        // Both attention kernels: texel views (CPU drivers' default) and storage buffers with staged Q chunks.
        foreach (var v in new[] { KernelVariant.Texel, KernelVariant.Ssbo })
        {
            cases.Add(AttentionCase(24, 2, 5, 7, v));
            cases.Add(AttentionCase(260, 1, 3, 5, v)); // C > 256: two accumulators per invocation
        }
        return cases;
    }

    private static CpuTensor R(int c, int t, int h, int w, int seed, float scale = 1f) => CpuTensor.Random(c, t, h, w, seed, scale);

    private static CpuTensor Flat(float[] v) => new(1, 1, 1, v.Length, v);

    // ---------------------------------------------------------------- convolution

    private static IEnumerable<OpCase> ConvCases(KernelVariant v)
    {
        string n = KernelOptions.Name(v);
        //                     cin cout kt kh st sh past  T  H   W  padding
        yield return Conv(v, $"conv {n} 3x3x3 causal 5->7", 5, 7, 3, 3, 1, 1, 2, 3, 7, 13, ConvPadding.Same);
        yield return Conv(v, $"conv {n} 3x3x3 17->33 on 6-wide rows", 17, 33, 3, 3, 1, 1, 1, 2, 9, 6, ConvPadding.Same);
        yield return Conv(v, $"conv {n} 1x3x3 per frame 12->8", 12, 8, 1, 3, 1, 1, 0, 2, 11, 5, ConvPadding.Same);
        yield return Conv(v, $"conv {n} 1x1x1 24->16", 24, 16, 1, 1, 1, 1, 0, 3, 7, 13, ConvPadding.Same);
        yield return Conv(v, $"conv {n} 2x3x3 stride 2 in time 5->17", 5, 17, 2, 3, 2, 1, 1, 3, 5, 17, ConvPadding.Same);
        yield return Conv(v, $"conv {n} 3x3x3 stride 2 right-bottom 5->17", 5, 17, 3, 3, 2, 2, 2, 5, 7, 13, ConvPadding.RightBottom);
        yield return Conv(v, $"conv {n} 1x3x3 downsample right-bottom 12->8", 12, 8, 1, 3, 1, 2, 0, 2, 8, 7, ConvPadding.RightBottom);
        yield return Conv(v, $"conv {n} 3x3x3 19->17 on 33-wide rows, residual, no bias", 19, 17, 3, 3, 1, 1, 2, 3, 5, 33, ConvPadding.Same,
            bias: false, residual: true);
        yield return Conv(v, $"conv {n} 3x3x3 40->70", 40, 70, 3, 3, 1, 1, 2, 1, 5, 7, ConvPadding.Same, residual: true);
    }

    /// <summary>
    /// The pointwise texel kernel, forced: it runs the 1x1x1 convs whose planes (H*W) are multiples of 4 (dense and as
    /// channel slices, whose bases are whole planes in), conv_texel the others. Channel counts off the vec4s, the K
    /// step and the tile; 4x13 frames make an invocation's 8 positions cross frames.
    /// </summary>
    private static IEnumerable<OpCase> PointwiseCases()
    {
        const KernelVariant v = KernelVariant.TexelPointwise;
        //                                                                      cin cout kt kh st sh past T  H   W
        yield return Conv(v, "conv texel-pointwise 1x1x1 23->21 on 4x13 frames", 23, 21, 1, 1, 1, 1, 0, 3, 4, 13, ConvPadding.Same);
        yield return Conv(v, "conv texel-pointwise 1x1x1 40->70 on 12x6, residual, no bias", 40, 70, 1, 1, 1, 1, 0, 2, 12, 6, ConvPadding.Same,
            bias: false, residual: true);
        yield return Conv(v, "conv texel-pointwise 1x1x1 24->16 on 7x13 frames (odd planes: conv_texel)", 24, 16, 1, 1, 1, 1, 0, 3, 7, 13, ConvPadding.Same);
    }

    /// <summary>
    /// Winograd (stride-1 Same 3x3 convs) against the direct reference, with the kernels of a device whose variant is
    /// <paramref name="v"/> (texel or storage-buffer operands). Bounds: the algorithm's own error (WinogradTests:
    /// F2 ~1e-5, F4 ~5e-5 of rms) with a margin; F4 is fp32 only; F2 in fp16 also rounds its transformed weights.
    /// </summary>
    private static IEnumerable<OpCase> WinogradCases(KernelVariant v, WinogradTile tile)
    {
        string n = $"winograd {WinogradConv.Name(tile)} {KernelOptions.Name(v)}";
        //                                                   cin cout kt past T  H   W
        yield return Winograd(v, tile, $"{n} 3x3x3 causal 17->33", 17, 33, 3, 2, 2, 9, 6);
        yield return Winograd(v, tile, $"{n} 1x3x3 per frame 12->8", 12, 8, 1, 0, 2, 11, 5);
        yield return Winograd(v, tile, $"{n} 3x3x3 19->17 on 33-wide rows, residual, no bias", 19, 17, 3, 2, 3, 5, 33, bias: false, residual: true);
    }

    private static OpCase Winograd(KernelVariant variant, WinogradTile tile, string name, int cin, int cout, int kt, int pastT, int t, int h, int w,
        bool bias = true, bool residual = false)
    {
        var direct = Conv(variant, name, cin, cout, kt, 3, 1, 1, pastT, t, h, w, ConvPadding.Same, bias, residual);
        return direct with
        {
            Gpu = r =>
            {
                var weights = r.Own(ConvWeights.UploadWinograd(r.Device, r.Values(2), r.Values(3), cout, cin, kt, tile, r.Precision));
                WfVae.Operators.Conv.Forward(r.Rec, pastT > 0 ? r.In(1).Frames(0, pastT) : null, r.In(0), weights, r.Out(0),
                    residual: residual ? r.In(4) : null, label: name);
            },
            Tolerance = tile == WinogradTile.F2 ? 3e-5 : 2e-4,
            Fp32Only = !WinogradConv.Offers(tile, Precision.Fp16),
            Fp16Intermediate = WinogradFp16Intermediate,
        };
    }

    // F(2x2,3x3) in fp16: U = G·g·Gᵀ of half-valued weights sums up to 9 of them and is rounded to halves again, a
    // relative error up to u = 2⁻¹¹ per transformed weight; random in sign over the K products, it moved outputs by up
    // to 8.1e-4 of rms against fp32 on these shapes (lavapipe, beyond the output rounding). Bound: three half roundings
    // of rms (1.5e-3); a wrong tap or channel moves outputs by ≥ 3e-2.
    private const double WinogradFp16Intermediate = 3 * Fp16.U;

    private static OpCase Conv(KernelVariant variant, string name, int cin, int cout, int kt, int kh, int st, int sh, int pastT, int t, int h, int w,
        ConvPadding padding, bool bias = true, bool residual = false)
    {
        int k = cin * kt * kh * kh;
        int to = WfVae.Operators.Conv.OutputFrames(pastT + t, kt, st);
        int ho = WfVae.Operators.Conv.OutputSize(h, kh, sh, padding), wo = WfVae.Operators.Conv.OutputSize(w, kh, sh, padding);
        var inputs = new List<Operand>
        {
            new(R(cin, t, h, w, cin * 100 + cout)),
            new(R(cin, Math.Max(pastT, 1), h, w, cin * 100 + cout + 1)),
            new(Flat(R(1, 1, 1, cout * k, kt + 7, (float)(1.0 / Math.Sqrt(k))).Data), OperandKind.Weights),
            new(Flat(bias ? R(1, 1, 1, cout, kt + 8, 0.5f).Data : []), OperandKind.Weights),
            new(R(cout, to, ho, wo, cout + 9)),
        };
        return new OpCase(name, inputs, [new(cout, to, ho, wo)],
            r =>
            {
                var weights = r.Own(ConvWeights.Upload(r.Device, r.Values(2), r.Values(3), cout, cin, kt, kh, kh, r.Precision));
                WfVae.Operators.Conv.Forward(r.Rec, pastT > 0 ? r.In(1).Frames(0, pastT) : null, r.In(0), weights, r.Out(0), st, sh, padding,
                    residual ? r.In(4) : null, name);
            },
            x =>
            {
                var virt = pastT > 0 ? CpuTensor.ConcatFrames(x[1].SliceFrames(0, pastT), x[0]) : x[0];
                var y = ConvReference(virt, x[2].Data, bias ? x[3].Data : null, cout, kt, kh, st, sh, padding);
                return [residual ? CpuOps.Add(y, x[4]) : y];
            },
            ConvTol) { Variant = variant };
    }

    /// <summary>
    /// The conv over the virtual frames <paramref name="v"/> with no temporal padding, through the causal CPU ops:
    /// they pad with kt − 1 copies of frame 0; r more copies make kt − 1 + r a multiple of st, and the outputs that
    /// read any padding are dropped.
    /// </summary>
    private static CpuTensor ConvReference(CpuTensor v, float[] w, float[]? b, int cout, int kt, int kh, int st, int sh, ConvPadding padding)
    {
        int r = (st - (kt - 1) % st) % st;
        var vp = r == 0 ? v : CpuTensor.ConcatFrames([.. Enumerable.Repeat(v.SliceFrames(0, 1), r), v]);
        var full = padding == ConvPadding.Same ? CpuOps.CausalConv3d(vp, w, b, cout, (kt, kh, kh), (st, sh, sh), (kh - 1) / 2)
            : kt == 1 ? CpuOps.Downsample2d(vp, w, b, cout)
            : CpuOps.S2T2Downsample3d(vp, w, b, cout);
        int drop = (kt - 1 + r) / st;
        return full.SliceFrames(drop, full.T - drop);
    }

    // ---------------------------------------------------------------- norms and attention

    private static IEnumerable<OpCase> NormCases()
    {
        // LayerNorm on both of its kernels: texel views (CPU drivers' default) and storage buffers.
        foreach (var v in new[] { KernelVariant.Texel, KernelVariant.Ssbo })
        {
            string n = v == KernelVariant.Texel ? "texel" : "storage-buffer";
            yield return Norm($"layernorm 17 channels, {n} kernel", 17, 5, 5, 7, group: false, perFrame: false, silu: false) with { Variant = v };
            yield return Norm($"layernorm 64 channels + silu, {n} kernel", 64, 2, 7, 13, group: false, perFrame: false, silu: true) with { Variant = v };
        }
        // 4x9 planes: 4 voxels per invocation (norm_texel4) on texel devices, dense and as channel slices.
        yield return Norm("layernorm 23 channels + silu on 4x9 frames, texel kernel", 23, 3, 4, 9, group: false, perFrame: false, silu: true)
            with { Variant = KernelVariant.Texel };
        yield return Norm("groupnorm 32 over the clip + silu", 32, 3, 5, 7, group: true, perFrame: false, silu: true);
        yield return Norm("groupnorm 96 per frame", 96, 2, 7, 13, group: true, perFrame: true, silu: false);
        // Several statistics chunks per (frame, group): cpg·H·W = 2·45·53 = 4770 > 4096.
        yield return Norm("groupnorm 64 on 45x53, chunked statistics", 64, 3, 45, 53, group: true, perFrame: false, silu: false);
    }

    private static OpCase Norm(string name, int c, int t, int h, int w, bool group, bool perFrame, bool silu)
    {
        // Different mean and spread per channel and frame, so centring, groups and frames are all exercised.
        var x = R(c, t, h, w, 10 + c + t, 2f);
        for (int ch = 0; ch < c; ch++)
            for (int f = 0; f < t; f++)
                for (int i = 0; i < h * w; i++)
                    x.Data[(ch * t + f) * h * w + i] = x.Data[(ch * t + f) * h * w + i] * (1 + ch % 5) + 0.3f * (ch % 7) - 0.2f * f + 0.75f;
        var gamma = Flat(R(c, 1, 1, 1, 7, 0.5f).Data.Select(v => v + 1).ToArray());
        var beta = Flat(R(c, 1, 1, 1, 8, 0.5f).Data);
        return new OpCase(name, [new(x), new(gamma, OperandKind.Fp32Param), new(beta, OperandKind.Fp32Param)], [new(c, t, h, w)],
            r =>
            {
                if (group) WfVae.Operators.Norm.GroupNorm(r.Rec, r.In(0), r.In(1), r.In(2), r.Out(0), silu, perFrame, r.Arena());
                else WfVae.Operators.Norm.LayerNorm(r.Rec, r.In(0), r.In(1), r.In(2), r.Out(0), silu);
            },
            a =>
            {
                var y = group ? CpuOps.GroupNorm(a[0], a[1].Data, a[2].Data, 32, CpuOps.DefaultEps, perFrame) : CpuOps.LayerNorm(a[0], a[1].Data, a[2].Data);
                return [silu ? CpuOps.Silu(y) : y];
            },
            NormTol);
    }

    private static OpCase AttentionCase(int c, int t, int h, int w, KernelVariant v)
    {
        float scale = 1f / MathF.Sqrt(c);
        return new OpCase($"attention C={c} N={h * w} T={t}, {(v == KernelVariant.Texel ? "texel" : "storage-buffer")} kernel", [new(R(c, t, h, w, 11, 3f)), new(R(c, t, h, w, 12, 3f)), new(R(c, t, h, w, 13))],
            [new(c, t, h, w)],
            r => Attention.Forward(r.Rec, r.In(0), r.In(1), r.In(2), r.Out(0), scale),
            a => [CpuOps.AttentionCore(a[0], a[1], a[2], scale)],
            AttentionTol) { Variant = v };
    }

    // ---------------------------------------------------------------- wavelets and resampling

    private static IEnumerable<OpCase> WaveletCases()
    {
        foreach (var (c, t, h, w) in new[] { (3, 5, 9, 13), (5, 4, 7, 6) })
            yield return new OpCase($"haar forward 3D {c}x{t}x{h}x{w}, frame 0 as past", [new(R(c, t, h, w, 100 + t))],
                [new(8 * c, (t - 1) / 2 + 1, h / 2, w / 2)],
                r => Haar.Forward3D(r.Rec, r.In(0).Frames(0, 1), r.In(0), r.Out(0)),
                a => [CpuOps.Haar3D(a[0])], HaarTol);
        foreach (bool add in new[] { false, true })
            yield return new OpCase($"haar inverse 3D, first frame dropped{(add ? ", low band added" : "")}",
                [new(R(24, 3, 5, 7, 300)), new(R(3, 3, 5, 7, 301))], [new(3, 5, 10, 14)],
                r => Haar.Inverse3D(r.Rec, r.In(0), r.Out(0), dropFirst: true, add ? r.In(1) : null),
                a => [CpuOps.InverseHaar3D(add ? AddToLowBand(a[0], a[1]) : a[0])], HaarTol);
        yield return new OpCase("haar forward 2D 5x2x7x6", [new(R(5, 2, 7, 6, 400))], [new(20, 2, 3, 3)],
            r => Haar.Forward2D(r.Rec, r.In(0), r.Out(0)),
            a => [CpuOps.Haar2D(a[0])], HaarTol);
        foreach (bool add in new[] { false, true })
            yield return new OpCase($"haar inverse 2D{(add ? ", low band added" : "")}", [new(R(12, 2, 5, 7, 500)), new(R(3, 2, 5, 7, 600))],
                [new(3, 2, 10, 14)],
                r => Haar.Inverse2D(r.Rec, r.In(0), r.Out(0), add ? r.In(1) : null),
                a => [CpuOps.InverseHaar2D(add ? AddToLowBand(a[0], a[1]) : a[0])], HaarTol);
    }

    /// <summary>The coefficients with <paramref name="l"/> added to their first l.C channels (the decoder's Ŵ[0:C] += l).</summary>
    private static CpuTensor AddToLowBand(CpuTensor y, CpuTensor l) =>
        CpuTensor.ConcatChannels(CpuOps.Add(y.SliceChannels(0, l.C), l), y.SliceChannels(l.C, y.C - l.C));

    private static IEnumerable<OpCase> ResampleCases()
    {
        yield return new OpCase("resample nearest 2x", [new(R(5, 2, 5, 7, 17))], [new(5, 2, 10, 14)],
            r => Resample.Nearest2x(r.Rec, r.In(0), r.Out(0)),
            a => [CpuOps.NearestUpsample2x(a[0])], 0) { Exact = true, Computes = false };
        yield return new OpCase("resample blend 0.25/0.75 + bilinear 2x", [new(R(5, 2, 5, 7, 17)), new(R(5, 2, 5, 7, 18))], [new(5, 2, 10, 14)],
            r => Resample.BlendBilinear2x(r.Rec, r.In(0), r.In(1), 0.25f, 0.75f, r.Out(0)),
            a => [CpuOps.BilinearUpsample2x(Blend(a[0], a[1], 0.25, 0.75))], ResampleTol);
    }

    private static CpuTensor Blend(CpuTensor a, CpuTensor b, double wa, double wb) =>
        new(a.C, a.T, a.H, a.W, a.Data.Zip(b.Data, (p, q) => (float)(wa * p + wb * q)).ToArray());

    // ---------------------------------------------------------------- posterior and elementwise

    private static IEnumerable<OpCase> PosteriorCases()
    {
        // Moments up to ±40: the log-variance half is clamped to [−30, 20] at both ends.
        yield return new OpCase("posterior split 2x3 latents", [new(R(10, 3, 5, 7, 19, 40f))], [new(5, 3, 5, 7), new(5, 3, 5, 7)],
            r => WfVae.Operators.Posterior.Split(r.Rec, r.In(0), r.Out(0), r.Out(1)),
            a =>
            {
                var (mean, logvar) = CpuOps.Posterior(a[0], 5);
                return [mean, logvar];
            }, 0) { Exact = true, Computes = false };
        // float32 exp/log/cos of the generator: a few ulps of the sample (PosteriorTests).
        yield return new OpCase("posterior sample, seed 42", [new(R(5, 2, 5, 7, 19, 3f)), new(R(5, 2, 5, 7, 20, 4f))], [new(5, 2, 5, 7)],
            r => WfVae.Operators.Posterior.Sample(r.Rec, r.In(0), r.In(1), r.Out(0), seed: 42),
            a => [CpuPhilox.Sample(a[0], a[1], 42)], 2e-5);
    }

    private static IEnumerable<OpCase> ElementwiseCases()
    {
        Operand A() => new(R(5, 3, 7, 13, 21, 4f));
        Operand B() => new(R(5, 3, 7, 13, 22, 2f));
        Shape y = new(5, 3, 7, 13);
        // Add and copy are single IEEE operations: bit-exact (fp16: the correctly rounded half of the fp32 sum).
        yield return new OpCase("elementwise add", [A(), B()], [y], r => Elementwise.Add(r.Rec, r.In(0), r.In(1), r.Out(0)),
            a => [CpuOps.Add(a[0], a[1])], 0) { Exact = true };
        yield return new OpCase("elementwise copy", [A()], [y], r => Elementwise.Copy(r.Rec, r.In(0), r.Out(0)),
            a => [a[0]], 0) { Exact = true, Computes = false };
        // SiLU: the device's exp and division, ~15 ulp for |x| ≤ 4; axpy: one rounding, or none when contracted to an fma.
        yield return new OpCase("elementwise silu", [A()], [y], r => Elementwise.Silu(r.Rec, r.In(0), r.Out(0)),
            a => [CpuOps.Silu(a[0])], 2e-6);
        yield return new OpCase("elementwise axpy, scale -0.75", [A(), B()], [y], r => Elementwise.Axpy(r.Rec, r.In(0), -0.75f, r.In(1), r.Out(0)),
            a => [new CpuTensor(5, 3, 7, 13, a[0].Data.Zip(a[1].Data, (p, q) => (float)(p * -0.75 + q)).ToArray())], 1e-6);
    }
}

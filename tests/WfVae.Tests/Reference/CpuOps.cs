namespace WfVae.Tests.Reference;

public enum NormType { LayerNorm, GroupNorm }

public enum TemporalInterpolation { Trilinear, Nearest }

/// <summary>
/// Plain CPU reference operators of WF-VAE, each exactly as docs/model.md#operators describes it
/// (official PyTorch semantics). Clarity over speed; the only concession is Parallel.For over
/// output channels (or frames) so the golden models run in seconds.
///
/// Precision: inputs, weights and outputs are float32 (like the official model), but every sum
/// (convolutions, norm statistics, softmax) is accumulated in double. The product of two float32
/// values is exact in double (24 + 24 significand bits &lt; 53), so each convolution output is the
/// exactly rounded float32 of a nearly exact sum. This makes the reference *more* exact than
/// PyTorch's or the GPU's float32 accumulation: a GPU kernel compared against it sees only its own
/// rounding, not the sum of two implementations' rounding errors, and ordering differences in the
/// GPU's reductions cannot hide behind reference noise.
/// </summary>
public static class CpuOps
{
    /// <summary>Haar 3D constant κ: the float32 number 0.3536f (= 0.35359999537…), not 1/(2√2).</summary>
    public const float Kappa = 0.3536f;

    public const double DefaultEps = 1e-6;

    // ------------------------------------------------------------------ convolutions

    /// <summary>
    /// General direct convolution used by all learned convolutions. Weight layout
    /// [Cout, Cin, kt, kh, kw]. The input is viewed as padded: <paramref name="front"/> copies of
    /// frame 0 in front (causal replication), zero rows/columns top/bottom/left/right.
    /// Output frame j, row y, column x reads padded frame st·j + a, row sh·y + u, column sw·x + v.
    /// </summary>
    private static CpuTensor ConvCore(CpuTensor x, float[] weight, float[]? bias, int cout,
        int kt, int kh, int kw, int st, int sh, int sw,
        int front, int padTop, int padBottom, int padLeft, int padRight)
    {
        int cin = x.C;
        if (weight.Length != (long)cout * cin * kt * kh * kw)
            throw new ArgumentException($"conv weight has {weight.Length} values, expected [{cout},{cin},{kt},{kh},{kw}]");
        if (bias != null && bias.Length != cout)
            throw new ArgumentException($"conv bias has {bias.Length} values, expected {cout}");
        int tp = x.T + front, hp = x.H + padTop + padBottom, wp = x.W + padLeft + padRight;
        if (tp < kt || hp < kh || wp < kw) throw new ArgumentException($"conv input {x} too small for kernel");
        int to = (tp - kt) / st + 1, ho = (hp - kh) / sh + 1, wo = (wp - kw) / sw + 1;
        var y = new CpuTensor(cout, to, ho, wo);
        int H = x.H, W = x.W, T = x.T;
        float[] X = x.Data;

        Parallel.For(0, cout, o =>
        {
            var acc = new double[to * ho * wo];
            for (int i = 0; i < cin; i++)
                for (int a = 0; a < kt; a++)
                    for (int u = 0; u < kh; u++)
                        for (int v = 0; v < kw; v++)
                        {
                            double wv = weight[(((o * cin + i) * kt + a) * kh + u) * kw + v];
                            for (int j = 0; j < to; j++)
                            {
                                int n = st * j + a - front;       // frame of the unpadded input
                                int src = Math.Max(0, n);           // causal padding = copies of frame 0
                                for (int yy = 0; yy < ho; yy++)
                                {
                                    int iy = sh * yy + u - padTop;
                                    if (iy < 0 || iy >= H) continue; // zero padding
                                    int rowBase = ((i * T + src) * H + iy) * W;
                                    int accBase = (j * ho + yy) * wo;
                                    for (int xx = 0; xx < wo; xx++)
                                    {
                                        int ix = sw * xx + v - padLeft;
                                        if (ix < 0 || ix >= W) continue;
                                        acc[accBase + xx] += wv * X[rowBase + ix];
                                    }
                                }
                            }
                        }
            double b = bias?[o] ?? 0.0;
            int outBase = o * to * ho * wo;
            for (int k = 0; k < acc.Length; k++) y.Data[outBase + k] = (float)(acc[k] + b);
        });
        return y;
    }

    /// <summary>
    /// CausalConv3d (docs/model.md#causal-convolution): kt − 1 copies of frame 0 prepended, zero spatial padding
    /// <paramref name="pad"/> on all four sides, stride (st, sh, sw). Weight [Cout, Cin, kt, kh, kw].
    /// </summary>
    public static CpuTensor CausalConv3d(CpuTensor x, float[] weight, float[]? bias, int cout,
        (int T, int H, int W) kernel, (int T, int H, int W) stride, int pad)
        => ConvCore(x, weight, bias, cout, kernel.T, kernel.H, kernel.W, stride.T, stride.H, stride.W,
            kernel.T - 1, pad, pad, pad, pad);

    /// <summary>CausalConv3d with a cubic kernel k×k×k, stride 1 and padding k/2 (3 → 1, 1 → 0).</summary>
    public static CpuTensor CausalConv3d(CpuTensor x, float[] weight, float[]? bias, int cout, int k)
        => CausalConv3d(x, weight, bias, cout, (k, k, k), (1, 1, 1), k / 2);

    /// <summary>Conv2d per frame (docs/model.md#per-frame-convolution), weight [Cout, Cin, kh, kw], zero padding, stride (sh, sw).</summary>
    public static CpuTensor Conv2d(CpuTensor x, float[] weight, float[]? bias, int cout,
        (int H, int W) kernel, (int H, int W) stride, int pad)
        => ConvCore(x, weight, bias, cout, 1, kernel.H, kernel.W, 1, stride.H, stride.W, 0, pad, pad, pad, pad);

    /// <summary>Conv2d per frame with a k×k kernel, stride 1, padding k/2.</summary>
    public static CpuTensor Conv2d(CpuTensor x, float[] weight, float[]? bias, int cout, int k)
        => Conv2d(x, weight, bias, cout, (k, k), (1, 1), k / 2);

    /// <summary>Downsample (docs/model.md#downsampling): per frame, zero column right and zero row bottom, then 3×3 stride 2, no padding.</summary>
    public static CpuTensor Downsample2d(CpuTensor x, float[] weight, float[]? bias, int cout)
        => ConvCore(x, weight, bias, cout, 1, 3, 3, 1, 2, 2, 0, 0, 1, 0, 1);

    /// <summary>
    /// Spatial2xTime2x3DDownsample (docs/model.md#downsampling): zero column right and zero row bottom, then causal conv
    /// 3×3×3 stride 2 in T, H, W, no further padding (2 copies of frame 0 in front).
    /// </summary>
    public static CpuTensor S2T2Downsample3d(CpuTensor x, float[] weight, float[]? bias, int cout)
        => ConvCore(x, weight, bias, cout, 3, 3, 3, 2, 2, 2, 2, 0, 1, 0, 1);

    // ------------------------------------------------------------------ Haar wavelets (docs/model.md#wavelets)

    /// <summary>3D sub-band sign s_f(a, b, c) = (−1)^(bt·a + bh·b + bw·c), (bt,bh,bw) = bits (4,2,1) of f.</summary>
    public static int Haar3DSign(int f, int a, int b, int c)
    {
        int bt = (f >> 2) & 1, bh = (f >> 1) & 1, bw = f & 1;
        return ((bt * a + bh * b + bw * c) & 1) == 0 ? 1 : -1;
    }

    /// <summary>2D sub-band sign, order aa, ad (H/row high-pass), da (W/column high-pass), dd.</summary>
    public static int Haar2DSign(int g, int b, int c)
    {
        int bh = g == 1 || g == 3 ? 1 : 0;
        int bw = g == 2 || g == 3 ? 1 : 0;
        return ((bh * b + bw * c) & 1) == 0 ? 1 : -1;
    }

    /// <summary>
    /// Forward 3D Haar: [C, T, H, W] → [8C, ⌊(T−1)/2⌋+1, ⌊H/2⌋, ⌊W/2⌋], channel f·C + c.
    /// X̃[0] = X[0], X̃[n] = X[n−1]; Y[f·C+c, j, y, x] = κ Σ s_f(a,b,c') X̃[c, 2j+a, 2y+b, 2x+c'].
    /// </summary>
    public static CpuTensor Haar3D(CpuTensor x)
    {
        int C = x.C, to = (x.T - 1) / 2 + 1, ho = x.H / 2, wo = x.W / 2;
        var y = new CpuTensor(8 * C, to, ho, wo);
        double kappa = Kappa;
        Parallel.For(0, 8 * C, ch =>
        {
            int f = ch / C, c = ch % C;
            for (int j = 0; j < to; j++)
                for (int yy = 0; yy < ho; yy++)
                    for (int xx = 0; xx < wo; xx++)
                    {
                        double s = 0;
                        for (int a = 0; a < 2; a++)
                        {
                            int src = Math.Max(0, 2 * j + a - 1); // one replicated first frame
                            for (int b = 0; b < 2; b++)
                                for (int cc = 0; cc < 2; cc++)
                                    s += Haar3DSign(f, a, b, cc) * (double)x[c, src, 2 * yy + b, 2 * xx + cc];
                        }
                        y[ch, j, yy, xx] = (float)(kappa * s);
                    }
        });
        return y;
    }

    /// <summary>
    /// Inverse 3D Haar: [8C, t, h, w] → [C, 2t−1, 2h, 2w].
    /// R[c, 2j+a, 2y+b, 2x+c'] = κ Σ_f s_f(a,b,c') Y[f·C+c, j, y, x]; output = R without frame 0.
    /// </summary>
    public static CpuTensor InverseHaar3D(CpuTensor y)
    {
        if (y.C % 8 != 0) throw new ArgumentException($"InverseHaar3D needs 8C channels, got {y.C}");
        int C = y.C / 8, to = 2 * y.T - 1, ho = 2 * y.H, wo = 2 * y.W;
        var r = new CpuTensor(C, to, ho, wo);
        double kappa = Kappa;
        Parallel.For(0, C, c =>
        {
            for (int n = 0; n < to; n++)
            {
                int j = (n + 1) / 2, a = (n + 1) % 2; // R frame n + 1 (R frame 0 is dropped)
                for (int oy = 0; oy < ho; oy++)
                    for (int ox = 0; ox < wo; ox++)
                    {
                        int yy = oy / 2, b = oy % 2, xx = ox / 2, cc = ox % 2;
                        double s = 0;
                        for (int f = 0; f < 8; f++)
                            s += Haar3DSign(f, a, b, cc) * (double)y[f * C + c, j, yy, xx];
                        r[c, n, oy, ox] = (float)(kappa * s);
                    }
            }
        });
        return r;
    }

    /// <summary>Forward 2D Haar per frame: [C, T, H, W] → [4C, T, ⌊H/2⌋, ⌊W/2⌋], channel g·C + c, constant 0.5.</summary>
    public static CpuTensor Haar2D(CpuTensor x)
    {
        int C = x.C, ho = x.H / 2, wo = x.W / 2;
        var y = new CpuTensor(4 * C, x.T, ho, wo);
        Parallel.For(0, 4 * C, ch =>
        {
            int g = ch / C, c = ch % C;
            for (int n = 0; n < x.T; n++)
                for (int yy = 0; yy < ho; yy++)
                    for (int xx = 0; xx < wo; xx++)
                    {
                        double s = 0;
                        for (int b = 0; b < 2; b++)
                            for (int cc = 0; cc < 2; cc++)
                                s += Haar2DSign(g, b, cc) * (double)x[c, n, 2 * yy + b, 2 * xx + cc];
                        y[ch, n, yy, xx] = (float)(0.5 * s);
                    }
        });
        return y;
    }

    /// <summary>Inverse 2D Haar per frame: [4C, T, h, w] → [C, T, 2h, 2w], R = 0.5 Σ_g s2_g(b,c') Y[g·C+c].</summary>
    public static CpuTensor InverseHaar2D(CpuTensor y)
    {
        if (y.C % 4 != 0) throw new ArgumentException($"InverseHaar2D needs 4C channels, got {y.C}");
        int C = y.C / 4, ho = 2 * y.H, wo = 2 * y.W;
        var r = new CpuTensor(C, y.T, ho, wo);
        Parallel.For(0, C, c =>
        {
            for (int n = 0; n < y.T; n++)
                for (int oy = 0; oy < ho; oy++)
                    for (int ox = 0; ox < wo; ox++)
                    {
                        int yy = oy / 2, b = oy % 2, xx = ox / 2, cc = ox % 2;
                        double s = 0;
                        for (int g = 0; g < 4; g++)
                            s += Haar2DSign(g, b, cc) * (double)y[g * C + c, n, yy, xx];
                        r[c, n, oy, ox] = (float)(0.5 * s);
                    }
        });
        return r;
    }

    // ------------------------------------------------------------------ normalisation, activation

    /// <summary>LayerNorm over the C channels of every (t, y, x) position (docs/model.md#normalisation), biased variance.</summary>
    public static CpuTensor LayerNorm(CpuTensor x, float[] gamma, float[] beta, double eps = DefaultEps)
    {
        CheckAffine(x.C, gamma, beta);
        var y = new CpuTensor(x.C, x.T, x.H, x.W);
        int fs = x.H * x.W, C = x.C;
        Parallel.For(0, x.T, t =>
        {
            for (int p = 0; p < fs; p++)
            {
                double mean = 0;
                for (int c = 0; c < C; c++) mean += x.Data[(c * x.T + t) * fs + p];
                mean /= C;
                double var = 0;
                for (int c = 0; c < C; c++) { double d = x.Data[(c * x.T + t) * fs + p] - mean; var += d * d; }
                var /= C;
                double inv = 1.0 / Math.Sqrt(var + eps);
                for (int c = 0; c < C; c++)
                {
                    int k = (c * x.T + t) * fs + p;
                    y.Data[k] = (float)((x.Data[k] - mean) * inv * gamma[c] + beta[c]);
                }
            }
        });
        return y;
    }

    /// <summary>
    /// GroupNorm (docs/model.md#normalisation): <paramref name="groups"/> groups of consecutive channels; statistics over
    /// the group's channels and all (T, H, W) positions, or per frame over (H, W) when
    /// <paramref name="perFrame"/> (the per-frame ResnetBlock2D of the encoder).
    /// </summary>
    public static CpuTensor GroupNorm(CpuTensor x, float[] gamma, float[] beta, int groups = 32,
        double eps = DefaultEps, bool perFrame = false)
    {
        CheckAffine(x.C, gamma, beta);
        if (x.C % groups != 0) throw new ArgumentException($"GroupNorm: {x.C} channels not divisible by {groups} groups");
        var y = new CpuTensor(x.C, x.T, x.H, x.W);
        int cpg = x.C / groups, fs = x.H * x.W;
        int segments = perFrame ? x.T : 1, framesPerSeg = perFrame ? 1 : x.T;
        Parallel.For(0, groups * segments, gs =>
        {
            int g = gs / segments, seg = gs % segments;
            int t0 = seg * framesPerSeg;
            double mean = 0, var = 0;
            long count = (long)cpg * framesPerSeg * fs;
            for (int c = g * cpg; c < (g + 1) * cpg; c++)
                for (int t = t0; t < t0 + framesPerSeg; t++)
                    for (int p = 0; p < fs; p++) mean += x.Data[(c * x.T + t) * fs + p];
            mean /= count;
            for (int c = g * cpg; c < (g + 1) * cpg; c++)
                for (int t = t0; t < t0 + framesPerSeg; t++)
                    for (int p = 0; p < fs; p++) { double d = x.Data[(c * x.T + t) * fs + p] - mean; var += d * d; }
            var /= count;
            double inv = 1.0 / Math.Sqrt(var + eps);
            for (int c = g * cpg; c < (g + 1) * cpg; c++)
                for (int t = t0; t < t0 + framesPerSeg; t++)
                    for (int p = 0; p < fs; p++)
                    {
                        int k = (c * x.T + t) * fs + p;
                        y.Data[k] = (float)((x.Data[k] - mean) * inv * gamma[c] + beta[c]);
                    }
        });
        return y;
    }

    /// <summary>The official <c>Normalize</c>: LayerNorm, or GroupNorm(32) over the whole clip or per frame.</summary>
    public static CpuTensor Normalize(CpuTensor x, float[] gamma, float[] beta, NormType type, bool perFrame = false)
        => type == NormType.LayerNorm ? LayerNorm(x, gamma, beta) : GroupNorm(x, gamma, beta, 32, DefaultEps, perFrame);

    private static void CheckAffine(int c, float[] gamma, float[] beta)
    {
        if (gamma.Length != c || beta.Length != c)
            throw new ArgumentException($"norm affine parameters have {gamma.Length}/{beta.Length} values, expected {c}");
    }

    /// <summary>SiLU(x) = x · sigmoid(x) = x / (1 + e^(−x)).</summary>
    public static CpuTensor Silu(CpuTensor x)
    {
        var y = new CpuTensor(x.C, x.T, x.H, x.W);
        for (int i = 0; i < x.Length; i++)
        {
            double v = x.Data[i];
            y.Data[i] = (float)(v / (1.0 + Math.Exp(-v)));
        }
        return y;
    }

    public static CpuTensor Add(CpuTensor a, CpuTensor b)
    {
        if (!a.SameShape(b)) throw new ArgumentException($"Add: {a} vs {b}");
        var y = new CpuTensor(a.C, a.T, a.H, a.W);
        for (int i = 0; i < a.Length; i++) y.Data[i] = a.Data[i] + b.Data[i];
        return y;
    }

    // ------------------------------------------------------------------ upsampling (docs/model.md#upsampling)

    /// <summary>Spatial nearest 2×: U[2y+a, 2x+b] = X[y, x].</summary>
    public static CpuTensor NearestUpsample2x(CpuTensor x)
    {
        var y = new CpuTensor(x.C, x.T, 2 * x.H, 2 * x.W);
        for (int c = 0; c < x.C; c++)
            for (int t = 0; t < x.T; t++)
                for (int oy = 0; oy < y.H; oy++)
                    for (int ox = 0; ox < y.W; ox++)
                        y[c, t, oy, ox] = x[c, t, oy / 2, ox / 2];
        return y;
    }

    /// <summary>
    /// PyTorch's linear interpolation source for scale factor 2, align_corners = False, input
    /// length n: src = (d + 0.5)/2 − 0.5 clamped below at 0, i0 = ⌊src⌋, i1 = min(i0 + 1, n − 1),
    /// λ = src − i0; out[d] = (1 − λ)·in[i0] + λ·in[i1].
    /// </summary>
    public static (int I0, int I1, double Lambda) LinearSource2x(int d, int n)
    {
        double src = (d + 0.5) / 2.0 - 0.5;
        if (src < 0) src = 0;
        int i0 = (int)Math.Floor(src);
        int i1 = Math.Min(i0 + 1, n - 1);
        return (i0, i1, src - i0);
    }

    /// <summary>
    /// Temporal 2× of Spatial2xTime2x3DUpsample (docs/model.md#upsampling step 1): [C, t, H, W] → [C, 2t−1, H, W].
    /// Frame 0 passes alone; frames 1 … t−1 are upsampled 2× as one sequence (trilinear: PyTorch
    /// half-pixel rule with edge clamp; nearest: each frame twice). t = 1 is returned unchanged.
    /// </summary>
    public static CpuTensor TemporalUpsample2x(CpuTensor x, TemporalInterpolation mode)
    {
        if (x.T == 1) return x.Clone();
        int n = x.T - 1, fs = x.H * x.W;
        var y = new CpuTensor(x.C, 2 * x.T - 1, x.H, x.W);
        for (int c = 0; c < x.C; c++)
        {
            Array.Copy(x.Data, (c * x.T) * fs, y.Data, (c * y.T) * fs, fs); // U[0] = M[0]
            for (int d = 0; d < 2 * n; d++)
            {
                int dst = (c * y.T + 1 + d) * fs;
                if (mode == TemporalInterpolation.Nearest)
                {
                    Array.Copy(x.Data, (c * x.T + 1 + d / 2) * fs, y.Data, dst, fs);
                    continue;
                }
                var (i0, i1, lam) = LinearSource2x(d, n);
                int s0 = (c * x.T + 1 + i0) * fs, s1 = (c * x.T + 1 + i1) * fs;
                for (int p = 0; p < fs; p++)
                    y.Data[dst + p] = (float)((1 - lam) * x.Data[s0 + p] + lam * x.Data[s1 + p]);
            }
        }
        return y;
    }

    /// <summary>Spatial bilinear 2× per frame (docs/model.md#upsampling step 2): half-pixel rule along H and W, clamped, separable.</summary>
    public static CpuTensor BilinearUpsample2x(CpuTensor x)
    {
        var y = new CpuTensor(x.C, x.T, 2 * x.H, 2 * x.W);
        Parallel.For(0, x.C, c =>
        {
            for (int t = 0; t < x.T; t++)
                for (int oy = 0; oy < y.H; oy++)
                {
                    var (y0, y1, ly) = LinearSource2x(oy, x.H);
                    for (int ox = 0; ox < y.W; ox++)
                    {
                        var (x0, x1, lx) = LinearSource2x(ox, x.W);
                        double top = (1 - lx) * x[c, t, y0, x0] + lx * x[c, t, y0, x1];
                        double bot = (1 - lx) * x[c, t, y1, x0] + lx * x[c, t, y1, x1];
                        y[c, t, oy, ox] = (float)((1 - ly) * top + ly * bot);
                    }
                }
        });
        return y;
    }

    // ------------------------------------------------------------------ attention (docs/model.md#attention)

    /// <summary>
    /// AttnBlock3DFix: y = x + proj_out(softmax(Q Kᵀ / sqrt(C)) V) per frame, single head, where
    /// q/k/v/proj_out are 1×1×1 convs (weights [C, C(,1,1,1)]) of the normalised input. The
    /// GroupNorm variant pools over the whole clip. Scores, softmax and A·V are computed in double.
    /// </summary>
    public static CpuTensor Attention(CpuTensor x, float[] normW, float[] normB,
        float[] wq, float[] bq, float[] wk, float[] bk, float[] wv, float[] bv, float[] wp, float[] bp,
        NormType normType)
    {
        int C = x.C, N = x.H * x.W;
        var h = Normalize(x, normW, normB, normType);
        var q = CausalConv3d(h, wq, bq, C, 1);
        var k = CausalConv3d(h, wk, bk, C, 1);
        var v = CausalConv3d(h, wv, bv, C, 1);
        var o = new CpuTensor(C, x.T, x.H, x.W);
        double scale = 1.0 / Math.Sqrt(C);
        Parallel.For(0, x.T * N, tn =>
        {
            int t = tn / N, n = tn % N;
            var s = new double[N];
            double max = double.NegativeInfinity;
            for (int m = 0; m < N; m++)
            {
                double dot = 0;
                for (int c = 0; c < C; c++) dot += (double)q.Data[(c * x.T + t) * N + n] * k.Data[(c * x.T + t) * N + m];
                s[m] = dot * scale;
                if (s[m] > max) max = s[m];
            }
            double sum = 0;
            for (int m = 0; m < N; m++) { s[m] = Math.Exp(s[m] - max); sum += s[m]; }
            for (int c = 0; c < C; c++)
            {
                double acc = 0;
                for (int m = 0; m < N; m++) acc += s[m] * v.Data[(c * x.T + t) * N + m];
                o.Data[(c * x.T + t) * N + n] = (float)(acc / sum);
            }
        });
        return Add(x, CausalConv3d(o, wp, bp, C, 1));
    }

    /// <summary>
    /// The attention core of AttnBlock3DFix alone (no norm, projections or residual), per frame t:
    /// O[:, n] = Σ_m softmax_m(q_n · k_m · scale) v_m over the H·W tokens (token = y·W + x), in double
    /// like <see cref="Attention"/>. When <paramref name="tokens"/> is given only those tokens (of every frame)
    /// are computed, the rest of the output stays 0 (for spot checks of large inputs).
    /// </summary>
    public static CpuTensor AttentionCore(CpuTensor q, CpuTensor k, CpuTensor v, double scale, IReadOnlyList<int>? tokens = null)
    {
        if (!q.SameShape(k) || !q.SameShape(v)) throw new ArgumentException($"attention core: shapes differ {q} {k} {v}");
        int C = q.C, T = q.T, N = q.H * q.W;
        var o = new CpuTensor(C, T, q.H, q.W);
        int[] toks = tokens?.ToArray() ?? Enumerable.Range(0, N).ToArray();
        Parallel.For(0, T * toks.Length, tn =>
        {
            int t = tn / toks.Length, n = toks[tn % toks.Length];
            var s = new double[N];
            double max = double.NegativeInfinity;
            for (int m = 0; m < N; m++)
            {
                double dot = 0;
                for (int c = 0; c < C; c++) dot += (double)q.Data[(c * T + t) * N + n] * k.Data[(c * T + t) * N + m];
                s[m] = dot * scale;
                if (s[m] > max) max = s[m];
            }
            double sum = 0;
            for (int m = 0; m < N; m++) { s[m] = Math.Exp(s[m] - max); sum += s[m]; }
            for (int c = 0; c < C; c++)
            {
                double acc = 0;
                for (int m = 0; m < N; m++) acc += s[m] * v.Data[(c * T + t) * N + m];
                o.Data[(c * T + t) * N + n] = (float)(acc / sum);
            }
        });
        return o;
    }

    // ------------------------------------------------------------------ posterior (docs/model.md#posterior)

    /// <summary>moments [2L, …] → mean = moments[0:L], logvar = clamp(moments[L:2L], −30, 20).</summary>
    public static (CpuTensor Mean, CpuTensor Logvar) Posterior(CpuTensor moments, int latentDim)
    {
        if (moments.C != 2 * latentDim) throw new ArgumentException($"moments have {moments.C} channels, expected {2 * latentDim}");
        var mean = moments.SliceChannels(0, latentDim);
        var logvar = moments.SliceChannels(latentDim, latentDim);
        for (int i = 0; i < logvar.Length; i++) logvar.Data[i] = Math.Clamp(logvar.Data[i], -30f, 20f);
        return (mean, logvar);
    }
}

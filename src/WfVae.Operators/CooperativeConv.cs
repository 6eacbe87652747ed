using WfVae.Runtime;

namespace WfVae.Operators;

/// <summary>
/// Dispatcher of shaders/conv_coop.comp: the conv of <see cref="Conv"/> on cooperative matrices (fp16 operands, fp32
/// accumulation, fp16 storage), used for fp16 tensors where the device enabled VK_KHR_cooperative_matrix or
/// VK_NV_cooperative_matrix (see <see cref="CooperativeMatrixPlan"/>; WFVAE_COOPMAT=off|khr|nv turns paths off).
/// Nobody has run this kernel on a device yet, so before its first use on a device it must pass
/// <see cref="SelfCheck"/> against the scalar kernel; on a mismatch or a pipeline failure cooperative matrices are
/// disabled for that device with a one-line warning on the device's log.
/// </summary>
public static class CooperativeConv
{
    /// <summary>SGM × SGN subgroups per workgroup, each owning TMT × TNT 16×16 output tiles (conv_coop.comp constants 1-4).</summary>
    public readonly record struct Tiles(int SGM, int SGN, int TMT, int TNT)
    {
        public int BM => SGM * TMT * 16;
        public int BN => SGN * TNT * 16;
        /// <summary>4 subgroups, 64 channels × 64 positions per workgroup, 2×2 tiles per subgroup.</summary>
        public static Tiles Default => new(2, 2, 2, 2);
    }

    /// <summary>
    /// Self-check tolerance on rel_err = max|a − e| / rms(e) between this kernel (fp16 output) and the scalar kernel
    /// (fp32 output) on identical fp16-exact inputs. fp16 × fp16 products are exact in fp32, so the two differ by the
    /// fp16 rounding of the output (≤ 2⁻¹¹·|y|, i.e. ≤ 2e-3·rms for elements up to 4·rms; up to 2⁻¹⁰·|y| if the
    /// conversion truncates) plus fp32 summation-order differences (~K·2⁻²⁴ ≈ 3e-5 for K = 513, more if the hardware
    /// accumulates inside a 16-term block with truncation). 1e-2 leaves a margin of ~5 over that, while an indexing
    /// error (wrong tap, channel block, tile, padding, stray write) moves elements by O(rms).
    /// </summary>
    public const double Tolerance = 1e-2;

    /// <summary>
    /// shaders/conv_coop.comp: the bindings and push constants of <see cref="Conv.Shader"/>; specialization constants
    /// WG, SGM, SGN, TMT, TNT; fp16 only; one variant per extension, each built only where glslc could compile it.
    /// </summary>
    public static ShaderFamily Shader { get; } = ShaderFamily.Create<Conv.Push>("conv_coop", ["WG", "SGM", "SGN", "TMT", "TNT"], [Precision.Fp16],
        new ShaderVariant("khr", [.. Enumerable.Repeat(BindingKind.Storage, 5)], Optional: true),
        new ShaderVariant("nv", [.. Enumerable.Repeat(BindingKind.Storage, 5)], Optional: true));

    /// <summary>The kernel of a cooperative-matrix path.</summary>
    public static ShaderKernel KernelFor(CooperativeMatrixPath path) => Shader.Kernel(path == CooperativeMatrixPath.Khr ? 0 : 1, Precision.Fp16);

    /// <summary>Embedded resource with the shader build's notes on the cooperative-matrix kernels (Shaders.targets).</summary>
    public const string BuildNotesResource = "wfvae-coopmat-build.txt";

    /// <summary>What this build of the operator library contains: the glslc verdicts and the kernels actually embedded.</summary>
    public static CooperativeMatrixBuild Build { get; } = ReadBuild();

    private static CooperativeMatrixBuild ReadBuild()
    {
        using var s = typeof(CooperativeConv).Assembly.GetManifestResourceStream(BuildNotesResource);
        if (s == null) return new CooperativeMatrixBuild($"unknown glslc ({BuildNotesResource} is not embedded)", false, false, false, false, false);
        var b = CooperativeMatrixBuild.Parse(new StreamReader(s).ReadToEnd());
        // Trust only kernels that are actually embedded.
        return b with
        {
            KhrBuilt = b.KhrBuilt && KernelFor(CooperativeMatrixPath.Khr).IsEmbedded,
            NvBuilt = b.NvBuilt && KernelFor(CooperativeMatrixPath.Nv).IsEmbedded,
        };
    }

    /// <summary>
    /// Whether fp16 convs on <paramref name="d"/> run on cooperative matrices. Settles the device's path with this
    /// build's kernels, then runs the self-check at the first call on a device with a path (a few small submissions)
    /// and disables the path if it fails, with a warning on the device's log.
    /// </summary>
    public static bool Active(VulkanDevice d)
    {
        ArgumentNullException.ThrowIfNull(d);
        var state = d.CooperativeMatrix;
        state.Resolve(Build);
        if (state.Path == CooperativeMatrixPath.None) return false;
        if (state.Verified || state.SelfCheckingOnThisThread) return true; // the self-check's own dispatches use the kernel
        lock (state) // one self-check per device, even when several sessions start at once
        {
            if (state.Path != CooperativeMatrixPath.None && !state.Verified) Apply(state, SelfCheck(d), d.Log);
        }
        return state.Path != CooperativeMatrixPath.None;
    }

    /// <summary>Applies a self-check verdict: verified, or disabled with one warning line to <paramref name="log"/>.</summary>
    public static void Apply(CooperativeMatrixState state, SelfCheckVerdict verdict, Action<string> log)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(log);
        if (verdict.Passed)
        {
            state.MarkVerified(verdict.Detail);
            return;
        }
        var path = state.Path;
        state.Disable($"self-check failed: {verdict.Detail}");
        log($"warning: the {path.ToString().ToUpperInvariant()} cooperative-matrix conv failed its self-check on this device ({verdict.Detail}); using the scalar kernels ({DeviceOptions.CooperativeMatrixVariable}=off skips it)");
    }

    internal static void Record(CommandRecorder rec, in Conv.Push push, GpuTensor? past, GpuTensor x, ConvWeights w, GpuTensor y,
        GpuTensor? residual, long n, string? label)
    {
        var d = rec.Device;
        var t = Tiles.Default;
        // One workgroup = SGM·SGN full subgroups; the shader assigns tiles by gl_SubgroupID.
        int wg = t.SGM * t.SGN * (int)Math.Max(1, d.Info.SubgroupSize);
        var pipe = d.Pipelines.Get(KernelFor(d.CooperativeMatrix.Path), [wg, t.SGM, t.SGN, t.TMT, t.TNT]);
        var (gx, gy) = Dispatch.Linear(Dispatch.CeilDiv(n, t.BN), 1);
        uint gz = Dispatch.CeilDiv(w.Cout, t.BM);
        Conv.LogKernel(d, label ?? "conv", w, n, $"cooperative-matrix ({d.CooperativeMatrix.Path}) fp16, tile {t.BM}x{t.BN} " +
                       $"({t.SGM}x{t.SGN} subgroups of {t.TMT}x{t.TNT} 16x16 tiles)");
        rec.Dispatch(pipe, [Binding.Read(past ?? x), Binding.Read(x), Binding.Read(w.Packed), Binding.Read(residual ?? y), Binding.Written(y)],
            push, gx, gy, gz, label ?? "conv (coopmat)", Conv.Flops(w, y));
    }

    /// <summary>Runs one self-check case and returns the whole output tensor (sentinel channels included) as float.</summary>
    public delegate float[] CaseRunner(VulkanDevice d, SelfCheckCase c);

    /// <summary>
    /// Runs <see cref="SelfCheckCase.All"/> through the cooperative kernel (or <paramref name="cooperative"/>, for tests)
    /// and through the scalar float32 kernel, and judges the difference. A failing run (pipeline creation, submission)
    /// is a failed check, not an exception.
    /// </summary>
    public static SelfCheckVerdict SelfCheck(VulkanDevice d, CaseRunner? cooperative = null)
    {
        ArgumentNullException.ThrowIfNull(d);
        cooperative ??= (dev, c) => RunCase(dev, c, float16: true);
        var details = new List<string>();
        double worst = 0;
        foreach (var c in SelfCheckCase.All)
        {
            var expected = RunCase(d, c, float16: false);
            float[] actual;
            var state = d.CooperativeMatrix;
            bool outer = state.SelfCheckingOnThisThread;
            state.SelfCheckingOnThisThread = true;
            try
            {
                actual = cooperative(d, c);
            }
            catch (Exception e) when (e is not OutOfMemoryException and not DeviceLostException)
            {
                return new SelfCheckVerdict(false, double.NaN, $"{c.Name}: {e.GetType().Name}: {e.Message}");
            }
            finally
            {
                state.SelfCheckingOnThisThread = outer;
            }
            var v = Judge(expected, actual);
            if (!v.Passed) return v with { Detail = $"{c.Name}: {v.Detail}" };
            details.Add($"{c.Name} {v.Detail}");
            worst = Math.Max(worst, v.RelErr);
        }
        return new SelfCheckVerdict(true, worst, string.Join("; ", details));
    }

    /// <summary>rel_err = max|a − e| / rms(e) against <paramref name="tolerance"/>; any non-finite value or a length mismatch fails.</summary>
    public static SelfCheckVerdict Judge(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double tolerance = Tolerance)
    {
        if (expected.Length != actual.Length || expected.Length == 0)
            return new SelfCheckVerdict(false, double.NaN, $"{actual.Length} values, expected {expected.Length}");
        double sum = 0, max = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            if (!float.IsFinite(actual[i])) return new SelfCheckVerdict(false, double.NaN, $"non-finite value {actual[i]} at element {i}");
            sum += (double)expected[i] * expected[i];
            max = Math.Max(max, Math.Abs((double)actual[i] - expected[i]));
        }
        double rms = Math.Sqrt(sum / expected.Length);
        double rel = rms > 0 ? max / rms : max;
        bool ok = rel <= tolerance;
        return new SelfCheckVerdict(ok, rel, $"rel_err {rel:E2} {(ok ? "<=" : ">")} {tolerance:E0}");
    }

    /// <summary>
    /// Runs <paramref name="c"/> through <see cref="Conv.Forward"/>: float32 tensors (the scalar kernel) or fp16 tensors
    /// (the cooperative kernel during the self-check where the device has one, else the scalar conv_f16). The output is a channel slice of a larger tensor filled with sentinels, so stray
    /// writes show up in the comparison.
    /// </summary>
    public static float[] RunCase(VulkanDevice d, SelfCheckCase c, bool float16)
    {
        ArgumentNullException.ThrowIfNull(d);
        ArgumentNullException.ThrowIfNull(c);
        var precision = float16 ? Precision.Fp16 : Precision.Fp32;
        using var weights = ConvWeights.Upload(d, c.Weight, c.Bias, c.Cout, c.Cin, c.Kt, c.K, c.K, precision);
        using var past = c.PastT > 0 ? d.Upload(c.Past, c.Cin, c.PastT, c.H, c.W, precision) : null;
        using var x = d.Upload(c.X, c.Cin, c.T, c.H, c.W, precision);
        using var big = d.Upload(c.Sentinels, c.Cout + 2 * SelfCheckCase.SentinelChannels, c.Tout, c.Ho, c.Wo, precision);
        using var residual = c.Residual.Length > 0 ? d.Upload(c.Residual, c.Cout, c.Tout, c.Ho, c.Wo, precision) : null;
        var y = big.Channels(SelfCheckCase.SentinelChannels, c.Cout);
        using (var rec = d.BeginCommands())
        {
            Conv.Forward(rec, past, x, weights, y, c.StrideT, c.StrideHW, c.Padding, residual, "coopmat self-check");
            rec.Submit();
        }
        return d.Download(big);
    }
}

/// <summary>Outcome of the cooperative-matrix self-check (or of one comparison); RelErr: the largest rel_err seen.</summary>
public readonly record struct SelfCheckVerdict(bool Passed, double RelErr, string Detail);

/// <summary>
/// One small conv with odd shapes for the self-check: channel counts that are not multiples of 16 (partial K blocks
/// and partial M tiles), positions that end mid-tile, causal past frames, bias, residual, strides and right/bottom
/// padding. All values are exact in fp16, so the fp16 and float32 runs see the same inputs.
/// </summary>
public sealed record SelfCheckCase(string Name, int Cin, int Cout, int Kt, int K, int PastT, int T, int H, int W,
    int StrideT, int StrideHW, ConvPadding Padding, bool WithBias, bool WithResidual, int Seed)
{
    /// <summary>Sentinel channels on each side of the output slice.</summary>
    public const int SentinelChannels = 2;
    public const float Sentinel = 3.25f;

    public int Tout => Conv.OutputFrames(PastT + T, Kt, StrideT);
    public int Ho => Conv.OutputSize(H, K, StrideHW, Padding);
    public int Wo => Conv.OutputSize(W, K, StrideHW, Padding);

    public float[] Weight => Values(Cout * Cin * Kt * K * K, Seed, 1.0 / Math.Sqrt(Cin * Kt * K * K));
    public float[] Bias => WithBias ? Values(Cout, Seed + 1, 0.5) : Array.Empty<float>();
    public float[] Past => Values(PastT * Cin * H * W, Seed + 2, 1);
    public float[] X => Values(T * Cin * H * W, Seed + 3, 1);
    public float[] Residual => WithResidual ? Values(Tout * Cout * Ho * Wo, Seed + 4, 1) : Array.Empty<float>();
    public float[] Sentinels => Enumerable.Repeat(Sentinel, Tout * (Cout + 2 * SentinelChannels) * Ho * Wo).ToArray();

    /// <summary>Uniform in [−scale, scale], rounded to fp16.</summary>
    private static float[] Values(int count, int seed, double scale)
    {
        var rng = new Random(seed);
        var v = new float[count];
        for (int i = 0; i < count; i++) v[i] = (float)(Half)((rng.NextDouble() * 2 - 1) * scale);
        return v;
    }

    public static IReadOnlyList<SelfCheckCase> All { get; } = new[]
    {
        // K = 19 per tap (a full and a 3-channel block), 21 channels (one partial M tile), 3·7·13 = 273 positions.
        new SelfCheckCase("3x3x3 causal 19->21", Cin: 19, Cout: 21, Kt: 3, K: 3, PastT: 2, T: 3, H: 7, W: 13,
            StrideT: 1, StrideHW: 1, Padding: ConvPadding.Same, WithBias: true, WithResidual: true, Seed: 61),
        // Temporal and spatial stride 2 with right/bottom padding, no bias.
        new SelfCheckCase("2x3x3 stride 2 8->5", Cin: 8, Cout: 5, Kt: 2, K: 3, PastT: 1, T: 4, H: 9, W: 11,
            StrideT: 2, StrideHW: 2, Padding: ConvPadding.RightBottom, WithBias: false, WithResidual: false, Seed: 71),
    };
}

using System.Runtime.InteropServices;
using WfVae.Runtime;

namespace WfVae.Operators;

/// <summary>Spatial zero padding of a convolution.</summary>
public enum ConvPadding
{
    /// <summary>p = (k − 1)/2 zero rows/columns on all four sides (all 3×3 and 1×1 convs of the model).</summary>
    Same,
    /// <summary>One zero column on the right and one zero row at the bottom, nothing else (Downsample §3.7, Spatial2xTime2x3DDownsample §3.8).</summary>
    RightBottom,
}

/// <summary>Which compiled variant of shaders/conv.comp runs a convolution.</summary>
public enum ConvVariant
{
    /// <summary>conv.spv: storage buffers and shared-memory tiles (GPUs).</summary>
    Ssbo,
    /// <summary>conv_texel.spv: texel-buffer operands, no shared memory (CPU drivers such as lavapipe).</summary>
    Texel,
    /// <summary>
    /// conv_texel_rows.spv: the texel kernel computing runs of consecutive output columns, each row-window fetch serving
    /// the 3 horizontal taps. Only for kw = 3 and spatial stride 1 (<see cref="Conv.RowsApply"/>); on devices where
    /// <see cref="Texel"/> is the default it is picked per layer where it wins (<see cref="Conv.RowsWin"/>). Its fma
    /// order is (a, u, ci, v), not (a, u, v, ci): close to, but not bit-identical with, the other two variants.
    /// </summary>
    TexelRows,
}

/// <summary>
/// Tile shape of shaders/conv.comp (specialization constants): WG invocations per workgroup, WGN of them along the
/// output positions, each computing TM output channels × TN positions (both multiples of 4); K advances BK input channels at a time.
/// The workgroup tile is (WG/WGN·TM) channels × (WGN·TN) positions. Any valid tiling gives bit-identical results
/// (one fma chain per output in a fixed K order); the tiling only changes speed.
/// </summary>
public readonly record struct ConvTiles(int WG, int WGN, int TM, int TN, int BK, bool Subgroup8 = false)
{
    public int BM => WG / WGN * TM;
    public int BN => WGN * TN;
    public int SharedBytes => BK * (BM + BN) * 4;

    /// <summary>
    /// lavapipe / CPU drivers: 64 invocations (a workgroup runs on one core as 8-wide SIMD), 8×4 outputs each, 32-channel
    /// K chunks: the fastest measured on lavapipe 22.3 (2 cores), where every memory instruction is a loop over lanes.
    /// </summary>
    public static ConvTiles Cpu => new(64, 8, 8, 4, 32);
    /// <summary>GPUs: 256 invocations, 64×64 tile, 4×4 outputs per invocation.</summary>
    public static ConvTiles Gpu => new(256, 16, 4, 4, 16);

    /// <summary>
    /// Texel variant on lavapipe: 32 invocations (4 subgroups of 8 consecutive positions), 16 output channels x 8
    /// positions each, weights fetched directly (one RGBA32F fetch = 4 channels, shared by 8 positions): 12 fetches
    /// feed 128 FMAs. Fastest in A/B runs of `bench ops` on lavapipe 22.3 (2 cores, quiet machine): 30-34 GFLOP/s
    /// against 21-27 for 8x8, 20-25 for 16x4 / 32x4 / 24x8, and uneven 15-37 for 16x16 (tiles wasted on small
    /// outputs); the subgroup-broadcast weight path (Subgroup8) measured slower. WFVAE_CONV_TILES overrides it.
    /// </summary>
    public static ConvTiles CpuTexel => new(32, 8, 16, 8, 8);

    /// <summary>
    /// Row kernel (conv_texel_rows) on lavapipe: 32 invocations (4 subgroups of 8 row segments), 16 output channels x 16
    /// consecutive columns each (BK unused): per input channel and kernel row, 18 input + 12 weight fetches feed 768
    /// FMAs. Forced-row `bench ops` runs on lavapipe 22.3 (2 shared cores, GFLOP/s of the 32x32 / three 16x16 layers):
    /// 16x16 columns 42-67 / 44-56 / 54-56 / 52-54; 8x16 34 / 33 / 36 / 41; 4x16 40 / 31 / 30 / 31; 32x16 51 / 55 /
    /// 50 / 42; 16x32 49 / 29 / 29 / 26; 64 invocations of 16x16 50 / 49 / 49 / 34; plain conv_texel 25-33 on all.
    /// </summary>
    public static ConvTiles CpuTexelRows => new(32, 8, 16, 16, 8);

    public static ConvTiles For(VulkanDevice d) => d.Info.Kind == DeviceKind.Cpu ? Cpu : Gpu;

    /// <summary>Default tiles of a variant on a device.</summary>
    public static ConvTiles For(VulkanDevice d, ConvVariant v) => v switch
    {
        ConvVariant.Texel => CpuTexel,
        ConvVariant.TexelRows => CpuTexelRows,
        _ => For(d),
    };

    /// <summary>
    /// Tiles of a variant on a device for a layer with <paramref name="cout"/> output channels: the device class's
    /// tiles, narrowed along the channels when they would mostly compute padding. WF-VAE's conv_out (3 channels)
    /// and the 12/16/24-channel wavelet and latent convs would otherwise run 64-channel tiles at 5–40 % use; the
    /// narrowed tile spends the same invocations along the positions instead. Bits do not depend on the tiles.
    /// </summary>
    public static ConvTiles For(VulkanDevice d, ConvVariant v, int cout)
    {
        var t = For(d, v);
        int coutPad = (cout + 3) / 4 * 4;
        if (coutPad * 2 > t.BM) return t;
        int tm = Math.Min(t.TM, coutPad);
        int wgm = Math.Max(1, coutPad / tm);
        while (t.WG % wgm != 0) wgm--;
        int wgn = t.WG / wgm;
        if (v != ConvVariant.Ssbo && wgn % 8 != 0) return t;
        var narrow = t with { WGN = wgn, TM = tm };
        // A wider position tile needs more shared memory in the SSBO kernel; keep the default where it would not fit.
        return v == ConvVariant.Ssbo && narrow.SharedBytes > d.Info.MaxSharedMemoryBytes ? t : narrow;
    }

    /// <summary>Throws ArgumentException when these tiles cannot run variant <paramref name="v"/> on <paramref name="d"/>.</summary>
    public void Validate(VulkanDevice d, ConvVariant v)
    {
        if (v != ConvVariant.Ssbo)
        {
            // Texel variant: TN is any count (positions 8 apart), WGN a multiple of 8 (subgroups of consecutive positions).
            if (WG <= 0 || WGN <= 0 || TM <= 0 || TN <= 0 || BK <= 0 || WG % WGN != 0 || TM % 4 != 0 || WGN % 8 != 0)
                throw new ArgumentException($"invalid texel conv tiles {this}");
            if (Subgroup8 && d.Info.SubgroupSize != 8)
                throw new ArgumentException($"conv tiles {this}: Subgroup8 needs 8-wide subgroups (device: {d.Info.SubgroupSize})");
            return;
        }
        if (WG <= 0 || WGN <= 0 || TM <= 0 || TN <= 0 || BK <= 0 || WG % WGN != 0 || TM % 4 != 0 || TN % 4 != 0)
            throw new ArgumentException($"invalid conv tiles {this}");
        if (Subgroup8 && (d.Info.SubgroupSize != 8 || WGN % 8 != 0 || BK % 8 != 0))
            throw new ArgumentException($"conv tiles {this}: Subgroup8 needs 8-wide subgroups (device: {d.Info.SubgroupSize}), WGN and BK multiples of 8");
        if (SharedBytes > d.Info.MaxSharedMemoryBytes)
            throw new ArgumentException($"conv tiles {this} need {SharedBytes} bytes of shared memory, the device has {d.Info.MaxSharedMemoryBytes}");
    }
}

/// <summary>
/// Weights of one convolution, repacked on the host for shaders/conv.comp: [kt·kh·kw taps][Cin][CoutPad] (output
/// channel fastest, rows padded with zeros to a multiple of 4 so the shader reads vec4s), then the bias [CoutPad].
/// </summary>
public sealed partial class ConvWeights : IDisposable
{
    public int Cout { get; }
    public int Cin { get; }
    public int Kt { get; }
    public int Kh { get; }
    public int Kw { get; }
    public bool HasBias { get; }
    /// <summary>The packed weights (+ bias) as a flat device tensor, in the precision the convolution runs in.</summary>
    public GpuTensor Packed { get; }
    public Precision Precision => Packed.Precision;
    /// <summary>Cout rounded up to a multiple of 4 (the packed row length; extra columns are zero).</summary>
    public int CoutPad => (Cout + 3) / 4 * 4;
    internal long BiasOffset => (long)Kt * Kh * Kw * Cin * CoutPad;

    private ConvWeights(GpuTensor packed, int cout, int cin, int kt, int kh, int kw, bool hasBias)
    {
        Packed = packed;
        Cout = cout;
        Cin = cin;
        Kt = kt;
        Kh = kh;
        Kw = kw;
        HasBias = hasBias;
    }

    /// <summary>
    /// Uploads official weights: [Cout, Cin, kt, kh, kw] for 3D or [Cout, Cin, kh, kw] for 2D (pass kt = 1) and the
    /// bias [Cout] (empty = none), stored in <paramref name="precision"/> (fp16: rounded to nearest-even halves).
    /// </summary>
    public static ConvWeights Upload(VulkanDevice d, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, int cout, int cin, int kt, int kh, int kw,
        Precision precision = Precision.Fp32)
    {
        ArgumentNullException.ThrowIfNull(d);
        if (cout <= 0 || cin <= 0 || kt <= 0 || kh <= 0 || kw <= 0)
            throw new ArgumentException($"conv weights: invalid shape [{cout}, {cin}, {kt}, {kh}, {kw}]");
        long taps = (long)kt * kh * kw;
        long count = cout * cin * taps;
        if (weight.Length != count)
            throw new ArgumentException($"conv weights: {weight.Length} values given, [{cout}, {cin}, {kt}, {kh}, {kw}] needs {count}");
        if (bias.Length != 0 && bias.Length != cout)
            throw new ArgumentException($"conv bias: {bias.Length} values given, expected {cout} (or none)");
        int coutPad = (cout + 3) / 4 * 4;
        long body = taps * cin * coutPad;
        var packed = new float[body + (bias.Length == 0 ? 0 : coutPad)];
        for (int o = 0; o < cout; o++)
            for (int i = 0; i < cin; i++)
            {
                long src = ((long)o * cin + i) * taps;
                for (int tap = 0; tap < taps; tap++)
                    packed[((long)tap * cin + i) * coutPad + o] = weight[(int)(src + tap)];
            }
        bias.CopyTo(packed.AsSpan((int)body));
        var tensor = d.Upload(packed, 1, 1, 1, packed.Length, precision);
        return new ConvWeights(tensor, cout, cin, kt, kh, kw, bias.Length != 0);
    }

    public override string ToString() => $"conv {Cin}->{Cout} {Kt}x{Kh}x{Kw}";

    public void Dispose()
    {
        Packed.Dispose();
        DisposeWinogradParts();
    }
}

/// <summary>Dispatcher of shaders/conv.comp: causal 3D, per-frame 2D, strided and right/bottom-padded convolutions.</summary>
public static class Conv
{
    [StructLayout(LayoutKind.Sequential)]
    internal struct Push
    {
        public uint PastBase, PastFrame, PastT;
        public uint XBase, XFrame;
        public uint Cin, H, W;
        public uint YBase, YFrame;
        public uint Cout, Ho, Wo, N;
        public uint RBase, RFrame, HasRes;
        public uint St, Sh;
        public uint PadTop, PadLeft;
        public uint Kt, Kh, Kw;
        public uint WBase4, Cout4, BiasBase4;
    }

    /// <summary>
    /// shaders/conv.comp: bindings past, x, packed weights, residual, y; the tile shape as specialization constants;
    /// variants in <see cref="ConvVariant"/> order: storage buffers, and texel operands for the texel and row kernels.
    /// </summary>
    public static ShaderFamily Shader { get; } = ShaderFamily.Create<Push>("conv", ["WG", "WGN", "TM", "TN", "BK", "SG8"], ShaderFamily.BothPrecisions,
        ShaderVariant.Plain(5),
        new ShaderVariant("texel", TexelKinds),
        new ShaderVariant("texel_rows", TexelKinds));

    private static BindingKind[] TexelKinds => [BindingKind.Texels, BindingKind.Texels, BindingKind.Texels4, BindingKind.Storage, BindingKind.Storage];

    /// <summary>Tiling override (tuning, benchmarks); null = <see cref="ConvTiles.For(VulkanDevice, ConvVariant)"/>.</summary>
    public static ConvTiles? TilesOverride { get; set; }

    /// <summary>WFVAE_CONV_TILES="WG,WGN,TM,TN,BK" overrides the tile choice (tuning and diagnosis).</summary>
    private static readonly ConvTiles? TilesFromEnvironment = ParseTiles(Environment.GetEnvironmentVariable("WFVAE_CONV_TILES"));

    /// <summary>
    /// The tiles a dispatch on <paramref name="device"/> uses: the override, WFVAE_CONV_TILES, else the variant's
    /// default for a layer of <paramref name="cout"/> output channels (0: the device class's default).
    /// </summary>
    public static ConvTiles TilesFor(VulkanDevice device, ConvVariant variant, int cout = 0) =>
        TilesOverride ?? TilesFromEnvironment ?? (cout > 0 ? ConvTiles.For(device, variant, cout) : ConvTiles.For(device, variant));

    /// <summary>
    /// Receives one line per distinct (layer, variant, precision, tiles) choice when set (the CLI's --verbose): which
    /// kernel and tile shape each convolution runs with, and why (override, environment, or the device class + shape).
    /// </summary>
    public static Action<string>? TileLog { get; set; }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> Logged = new();

    private static void LogChoice(VulkanDevice d, string label, ConvWeights w, long n, ConvVariant variant, Precision precision, ConvTiles tiles)
    {
        if (TileLog == null) return;
        string source = TilesOverride != null ? "override" : TilesFromEnvironment != null ? "WFVAE_CONV_TILES" : $"{d.Info.Kind} default for {w.Cout} output channels";
        LogKernel(d, label, w, n, $"{VariantName(variant)} {precision.Name()}, " +
                  $"tile {tiles.BM}x{tiles.BN} (WG {tiles.WG}, WGN {tiles.WGN}, TM {tiles.TM}, TN {tiles.TN}, BK {tiles.BK}) [{source}]");
    }

    /// <summary>The name of a variant in logs and in WFVAE_CONV_VARIANT: "ssbo", "texel", "texel-rows".</summary>
    public static string VariantName(ConvVariant v) => v == ConvVariant.TexelRows ? "texel-rows" : v.ToString().ToLowerInvariant();

    /// <summary>Logs one layer's kernel choice (<paramref name="kernel"/>) once per device, when <see cref="TileLog"/> is set.</summary>
    internal static void LogKernel(VulkanDevice d, string label, ConvWeights w, long n, string kernel)
    {
        if (TileLog is not { } log) return;
        string line = $"conv {label}: {w.Cin}->{w.Cout} {w.Kt}x{w.Kh}x{w.Kw}, N={n}: {kernel}";
        if (Logged.TryAdd($"{System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(d)}|{line}", true)) log(line);
    }

    public static ConvTiles? ParseTiles(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        var v = text.Split(',').Select(s => int.TryParse(s.Trim(), out int n) ? n : -1).ToArray();
        if (v.Length != 5 || v.Any(n => n <= 0))
            throw new ArgumentException($"WFVAE_CONV_TILES must be five positive numbers WG,WGN,TM,TN,BK; got '{text}'");
        return new ConvTiles(v[0], v[1], v[2], v[3], v[4]);
    }

    /// <summary>
    /// Environment variable forcing a variant for diagnosis: "direct" (the device's direct kernels, chosen per layer),
    /// "ssbo", "texel" (the plain texel kernel on every layer), "texel-rows" (the row kernel wherever it applies, plain
    /// texel elsewhere); these turn Winograd off. "winograd", "winograd-f2", "winograd-f4" force Winograd on every 3×3
    /// conv (read when weights load, <see cref="WinogradConv.TileFor"/>).
    /// </summary>
    public const string VariantVariable = "WFVAE_CONV_VARIANT";

    /// <summary>Variant override (tests, benchmarks); null = <see cref="VariantFor"/>.</summary>
    public static ConvVariant? VariantOverride { get; set; }

    /// <summary>
    /// The variant used on a device: <see cref="VariantOverride"/>, else WFVAE_CONV_VARIANT, else Texel on CPU drivers
    /// whose texel views reach a whole memory block and Ssbo on GPUs.
    /// </summary>
    public static ConvVariant VariantFor(VulkanDevice d, Precision precision = Precision.Fp32)
    {
        ArgumentNullException.ThrowIfNull(d);
        if (VariantOverride is { } o) return o;
        if (ForcedFromEnvironment().Direct is { } forced) return forced;
        return d.Info.Kind == DeviceKind.Cpu && TexelUsable(d, precision) ? ConvVariant.Texel : ConvVariant.Ssbo;
    }

    /// <summary>
    /// WFVAE_CONV_VARIANT: unset; "direct" (the device's direct kernels per layer, Winograd off); a direct kernel (ssbo,
    /// texel, texel-rows: Winograd off); or Winograd forced on every 3×3 conv (winograd: the default tile, winograd-f2 /
    /// winograd-f4: that tile; see <see cref="WinogradConv.TileFor"/>).
    /// </summary>
    internal static (ConvVariant? Direct, WinogradMode? Winograd) ForcedFromEnvironment()
    {
        var env = Environment.GetEnvironmentVariable(VariantVariable);
        if (string.IsNullOrWhiteSpace(env)) return (null, null);
        return env.Trim().ToLowerInvariant() switch
        {
            "direct" => (null, WinogradMode.Off),
            "ssbo" => (ConvVariant.Ssbo, WinogradMode.Off),
            "texel" => (ConvVariant.Texel, WinogradMode.Off),
            "texel-rows" => (ConvVariant.TexelRows, WinogradMode.Off),
            "winograd" => (null, WinogradMode.Forced),
            "winograd-f2" => (null, WinogradMode.ForcedF2),
            "winograd-f4" => (null, WinogradMode.ForcedF4),
            _ => throw new ArgumentException($"{VariantVariable}={env}: expected 'direct', 'ssbo', 'texel', 'texel-rows', 'winograd', 'winograd-f2' or 'winograd-f4'"),
        };
    }

    /// <summary>
    /// The variant of one layer: a forced variant (<see cref="VariantOverride"/>, WFVAE_CONV_VARIANT) as is, except that
    /// TexelRows falls back to Texel where it does not apply; else the device's variant, with Texel replaced by
    /// TexelRows where <see cref="RowsWin"/>. Depends only on the layer's shape (never on the number of frames of a
    /// dispatch), so streamed and whole-clip runs use the same kernel per layer and give the same bits.
    /// </summary>
    public static ConvVariant VariantFor(VulkanDevice d, Precision precision, ConvWeights w, int strideHW, int outW)
    {
        ArgumentNullException.ThrowIfNull(w);
        bool forced = VariantOverride != null || ForcedFromEnvironment().Direct != null;
        var v = VariantFor(d, precision);
        if (v == ConvVariant.TexelRows) return RowsApply(w, strideHW) ? v : ConvVariant.Texel;
        if (v == ConvVariant.Texel && !forced && RowsWin(w, strideHW, outW)) return ConvVariant.TexelRows;
        return v;
    }

    /// <summary>Whether the row kernel can run a layer: 3 horizontal taps, spatial stride 1.</summary>
    public static bool RowsApply(ConvWeights w, int strideHW) => w.Kw == 3 && strideHW == 1;

    /// <summary>
    /// Whether the row kernel is the default for a layer on texel devices: where it applies, the output rows have at
    /// least 16 columns and the 16-column segments waste at most a third of their columns (a row of 17 would run two
    /// segments for 17 columns). Measured on lavapipe 22.3 (ConvTiles.CpuTexelRows): 1.5-2x conv_texel on 16- and
    /// 32-column layers, no gain on 8x8 outputs (half of each segment idle).
    /// </summary>
    public static bool RowsWin(ConvWeights w, int strideHW, int outW)
    {
        if (!RowsApply(w, strideHW) || outW < 16) return false;
        int segmentColumns = ConvTiles.CpuTexelRows.TN;
        int padded = (outW + segmentColumns - 1) / segmentColumns * segmentColumns;
        return 3 * outW >= 2 * padded;
    }

    /// <summary>Whether texel views of <paramref name="precision"/> elements can address a whole memory block and are readable.</summary>
    internal static bool TexelUsable(VulkanDevice d, Precision precision)
    {
        int eb = precision.ElementBytes();
        return d.Pipelines.MaxTexelBufferElements * eb >= d.Memory.MaxAllocationBytes
            && d.Pipelines.SupportsUniformTexels(PipelineLibrary.TexelFormat(BindingKind.Texels, eb))
            && d.Pipelines.SupportsUniformTexels(PipelineLibrary.TexelFormat(BindingKind.Texels4, eb));
    }

    /// <summary>Output frames of a conv over V virtual frames: ⌊(V − kt)/st⌋ + 1, or 0 if V &lt; kt.</summary>
    public static int OutputFrames(int virtualFrames, int kt, int st)
    {
        if (kt <= 0 || st <= 0) throw new ArgumentException($"OutputFrames: kt={kt}, st={st}");
        return virtualFrames < kt ? 0 : (virtualFrames - kt) / st + 1;
    }

    /// <summary>Output rows (or columns) of a conv over <paramref name="size"/> input rows.</summary>
    public static int OutputSize(int size, int k, int stride, ConvPadding padding)
    {
        int padded = padding == ConvPadding.Same ? size + 2 * ((k - 1) / 2) : size + 1;
        return padded < k ? 0 : (padded - k) / stride + 1;
    }

    /// <summary>
    /// y = conv(past ++ x) + bias (+ residual). The input is the virtual frame sequence past ++ x (past: the causal
    /// cache or replicated first frames, may be null); output frame j reads virtual frames strideT·j + a,
    /// a = 0..kt−1, so y.T must be <see cref="OutputFrames"/>(past.T + x.T, kt, strideT). Any argument may be a
    /// strided view (channel slice / frame range); y must not overlap the inputs (residual may be y itself).
    /// </summary>
    public static void Forward(CommandRecorder rec, GpuTensor? past, GpuTensor x, ConvWeights w, GpuTensor y,
        int strideT = 1, int strideHW = 1, ConvPadding padding = ConvPadding.Same,
        GpuTensor? residual = null, string? label = null)
    {
        ArgumentNullException.ThrowIfNull(rec);
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(y);
        if (strideT < 1 || strideHW < 1) throw new ArgumentException($"conv: strides must be >= 1 (strideT={strideT}, strideHW={strideHW})");
        if (x.C != w.Cin) throw new ArgumentException($"{w}: input has {x.C} channels, expected {w.Cin} ({x.Shape})");
        if (past != null && (past.C != x.C || past.H != x.H || past.W != x.W))
            throw new ArgumentException($"{w}: past {past.Shape} does not match input {x.Shape} in channels or frame size");
        if (y.C != w.Cout) throw new ArgumentException($"{w}: output has {y.C} channels, expected {w.Cout} ({y.Shape})");
        int pastT = past?.T ?? 0;
        int tout = OutputFrames(pastT + x.T, w.Kt, strideT);
        if (y.T != tout)
            throw new ArgumentException($"{w}: {pastT} past + {x.T} input frames with kt={w.Kt}, st={strideT} give {tout} output frames, output has {y.T}");
        if (padding == ConvPadding.Same && (w.Kh % 2 == 0 || w.Kw % 2 == 0))
            throw new ArgumentException($"{w}: Same padding needs odd spatial kernels");
        int ho = OutputSize(x.H, w.Kh, strideHW, padding), wo = OutputSize(x.W, w.Kw, strideHW, padding);
        if (y.H != ho || y.W != wo)
            throw new ArgumentException($"{w}: input {x.H}x{x.W} with stride {strideHW} and {padding} padding gives {ho}x{wo}, output is {y.H}x{y.W}");
        if (residual != null && !residual.SameShape(y))
            throw new ArgumentException($"{w}: residual {residual.Shape} differs from output {y.Shape}");
        if (w.Precision != x.Precision)
            throw new ArgumentException($"{w}: weights are {w.Precision.Name()}, the input is {x.Precision.Name()} (load the weights in the model's precision)");
        var precision = Dispatch.PrecisionOf(rec, w, past, x, y, residual);
        long n = (long)tout * ho * wo;
        if (n == 0) return;
        if (n > uint.MaxValue / 2) throw new ArgumentException($"{w}: output {y.Shape} too large");
        if (w.Winograd != null)
        {
            WinogradConv.Forward(rec, past, x, w, y, residual, strideT, strideHW, padding, precision, label ?? "conv");
            return;
        }

        if (w.Packed.BaseElement % 4 != 0) throw new InvalidOperationException("conv weights must be 16-byte aligned");
        int pad = padding == ConvPadding.Same ? 1 : 0;
        var push = new Push
        {
            PastBase = past?.BaseElement ?? 0, PastFrame = (uint)(past?.FrameStride ?? 0), PastT = (uint)pastT,
            XBase = x.BaseElement, XFrame = (uint)x.FrameStride,
            Cin = (uint)x.C, H = (uint)x.H, W = (uint)x.W,
            YBase = y.BaseElement, YFrame = (uint)y.FrameStride,
            Cout = (uint)y.C, Ho = (uint)ho, Wo = (uint)wo, N = (uint)n,
            RBase = residual?.BaseElement ?? 0, RFrame = (uint)(residual?.FrameStride ?? 0), HasRes = residual != null ? 1u : 0u,
            St = (uint)strideT, Sh = (uint)strideHW,
            PadTop = (uint)(pad * ((w.Kh - 1) / 2)), PadLeft = (uint)(pad * ((w.Kw - 1) / 2)),
            Kt = (uint)w.Kt, Kh = (uint)w.Kh, Kw = (uint)w.Kw,
            WBase4 = w.Packed.BaseElement / 4,
            Cout4 = (uint)(w.CoutPad / 4),
            BiasBase4 = w.HasBias ? checked((uint)((w.Packed.BaseElement + w.BiasOffset) / 4)) : uint.MaxValue,
        };
        // fp16: the cooperative-matrix kernel where the device enabled it and it passed its first-use self-check
        // (CooperativeConv; WFVAE_COOPMAT=off turns it off), else the scalar conv_f16 kernels below.
        if (precision == Precision.Fp16 && CooperativeConv.Active(rec.Device))
        {
            CooperativeConv.Record(rec, push, past, x, w, y, residual, n, label);
            return;
        }
        var variant = VariantFor(rec.Device, precision, w, strideHW, wo);
        var tiles = TilesFor(rec.Device, variant, w.Cout);
        tiles.Validate(rec.Device, variant);
        LogChoice(rec.Device, label ?? "conv", w, n, variant, precision, tiles);
        var pipe = rec.Device.Pipelines.Get(Shader.Kernel((int)variant, precision), [tiles.WG, tiles.WGN, tiles.TM, tiles.TN, tiles.BK, tiles.Subgroup8 ? 1 : 0]);
        // The row kernel's invocations own segments of TN consecutive columns of one output row (WGN per workgroup).
        long groups = variant == ConvVariant.TexelRows
            ? Dispatch.CeilDiv(n / wo * Dispatch.CeilDiv(wo, tiles.TN), tiles.WGN)
            : Dispatch.CeilDiv(n, tiles.BN);
        var (gx, gy) = Dispatch.Linear(groups, 1);
        uint gz = Dispatch.CeilDiv(w.Cout, tiles.BM);
        if (variant == ConvVariant.Ssbo)
            rec.Dispatch(pipe, [Binding.Read(past ?? x), Binding.Read(x), Binding.Read(w.Packed), Binding.Read(residual ?? y), Binding.Written(y)],
                push, gx, gy, gz, label ?? "conv", Flops(w, y));
        else
            rec.Dispatch(pipe, [Binding.Texels(past ?? x), Binding.Texels(x), Binding.Texels4(w.Packed), Binding.Read(residual ?? y), Binding.Written(y)],
                push, gx, gy, gz, label ?? "conv", Flops(w, y));
    }

    /// <summary>2·Cout·Cin·kt·kh·kw·Tout·Hout·Wout (spec §7).</summary>
    public static long Flops(ConvWeights w, GpuTensor y) =>
        2L * w.Cout * w.Cin * w.Kt * w.Kh * w.Kw * y.T * y.H * y.W;
}

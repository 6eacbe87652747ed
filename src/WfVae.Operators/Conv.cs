using System.Runtime.InteropServices;
using WfVae.Runtime;

namespace WfVae.Operators;

/// <summary>Spatial zero padding of a convolution.</summary>
public enum ConvPadding
{
    /// <summary>p = (k − 1)/2 zero rows/columns on all four sides (all 3×3 and 1×1 convs of the model).</summary>
    Same,
    /// <summary>One zero column on the right and one zero row at the bottom, nothing else (Downsample and Spatial2xTime2x3DDownsample).</summary>
    RightBottom,
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
    /// variants in <see cref="KernelVariant"/> order: storage buffers, texel operands for the texel and row kernels, and
    /// for the pointwise kernel x and the weights as vec4 texels, then residual and y (no past).
    /// </summary>
    public static ShaderFamily Shader { get; } = ShaderFamily.Create<Push>("conv", ["WG", "WGN", "TM", "TN", "BK", "SG8"], ShaderFamily.BothPrecisions,
        ShaderVariant.Plain(5),
        new ShaderVariant("texel", TexelKinds),
        new ShaderVariant("texel_rows", TexelKinds),
        new ShaderVariant("texel_pointwise", [BindingKind.Texels4, BindingKind.Texels4, BindingKind.Storage, BindingKind.Storage]));

    private static BindingKind[] TexelKinds => [BindingKind.Texels, BindingKind.Texels, BindingKind.Texels4, BindingKind.Storage, BindingKind.Storage];

    /// <summary>
    /// The tiles a dispatch on <paramref name="device"/> uses: the device's tile override (<see cref="KernelOptions.Tiles"/>,
    /// WFVAE_CONV_TILES), else the variant's default for a layer of <paramref name="cout"/> output channels (0: the
    /// device class's default) and a call of <paramref name="n"/> output positions (0: not known; see
    /// <see cref="ConvTiles.ForPositions"/>).
    /// </summary>
    public static ConvTiles TilesFor(VulkanDevice device, KernelVariant variant, int cout = 0, long n = 0) =>
        device.Options.Kernels.Tiles is { } t ? new ConvTiles(t.WG, t.WGN, t.TM, t.TN, t.BK, t.Subgroup8)
        : (cout > 0 ? ConvTiles.For(device, variant, cout) : ConvTiles.For(device, variant)).ForPositions(variant, n);

    /// <summary>Logs which kernel and tile shape a layer runs with, and why, once per device (verbose devices only).</summary>
    private static void LogChoice(VulkanDevice d, string label, ConvWeights w, long n, KernelVariant variant, Precision precision, ConvTiles tiles)
    {
        if (!d.Verbose) return;
        string source = d.Options.Kernels.Tiles != null ? "tile override" : $"{d.Info.Kind} default for {w.Cout} output channels";
        LogKernel(d, label, w, n, $"{KernelOptions.Name(variant)} {precision.Name()}, " +
                  $"tile {tiles.BM}x{tiles.BN} (WG {tiles.WG}, WGN {tiles.WGN}, TM {tiles.TM}, TN {tiles.TN}, BK {tiles.BK}) [{source}]");
    }

    /// <summary>Logs one layer's kernel choice (<paramref name="kernel"/>) once per device, when the device is verbose.</summary>
    internal static void LogKernel(VulkanDevice d, string label, ConvWeights w, long n, string kernel)
    {
        if (d.Verbose) d.LogOnce($"conv {label}: {w.Cin}->{w.Cout} {w.Kt}x{w.Kh}x{w.Kw}, N={n}: {kernel}");
    }

    /// <summary>
    /// The variant used on a device: the device's forced variant (<see cref="KernelOptions.Variant"/>,
    /// WFVAE_CONV_VARIANT), else Texel on CPU drivers whose texel views reach a whole memory block and Ssbo on GPUs.
    /// </summary>
    public static KernelVariant VariantFor(VulkanDevice d, Precision precision = Precision.Fp32)
    {
        ArgumentNullException.ThrowIfNull(d);
        if (d.Options.Kernels.Variant is { } forced) return forced;
        return d.Info.Kind == DeviceKind.Cpu && TexelUsable(d, precision) ? KernelVariant.Texel : KernelVariant.Ssbo;
    }

    /// <summary>
    /// Whether the kernels of <paramref name="d"/> read through texel views (Winograd, LayerNorm, attention, and every
    /// direct conv variant but Ssbo): <see cref="VariantFor(VulkanDevice, Precision)"/> is not Ssbo, i.e. CPU drivers
    /// whose texel views reach a whole block, or a forced texel variant.
    /// </summary>
    public static bool UsesTexels(VulkanDevice d, Precision precision) => VariantFor(d, precision) != KernelVariant.Ssbo;

    /// <summary>
    /// The variant of one layer: a forced variant as is, except that TexelRows falls back to Texel where it does not
    /// apply; else the device's variant, with Texel replaced by TexelRows where <see cref="RowsWin"/>. Depends only on
    /// the layer's shape (never on the number of frames of a dispatch), so streamed and whole-clip runs use the same
    /// kernel per layer and give the same bits. The row kernel sums in (a, u, ci, v) order, not (a, u, v, ci): close
    /// to, but not bit-identical with, the other two, which agree bit for bit. The pointwise kernel depends on the
    /// input's layout, which this overload does not see: a forced TexelPointwise gives Texel here (see the overload
    /// with the operands).
    /// </summary>
    public static KernelVariant VariantFor(VulkanDevice d, Precision precision, ConvWeights w, int strideHW, int outW)
    {
        ArgumentNullException.ThrowIfNull(w);
        bool forced = d.Options.Kernels.Variant != null;
        var v = VariantFor(d, precision);
        if (v == KernelVariant.TexelPointwise) return KernelVariant.Texel;
        if (v == KernelVariant.TexelRows) return RowsApply(w, strideHW) ? v : KernelVariant.Texel;
        if (v == KernelVariant.Texel && !forced && RowsWin(w, strideHW, outW)) return KernelVariant.TexelRows;
        return v;
    }

    /// <summary>
    /// The variant of one call: the layer's (above), except TexelPointwise where <see cref="PointwiseApplies"/> and the
    /// device's variant is Texel (not forced) or TexelPointwise is forced. The pointwise kernel gives the same bits as
    /// conv_texel and conv.spv, so a choice by layout (which may differ between pushes) never changes a result.
    /// </summary>
    public static KernelVariant VariantFor(VulkanDevice d, Precision precision, ConvWeights w, GpuTensor? past, GpuTensor x,
        int strideT, int strideHW, ConvPadding padding, int outW, GpuTensor? y = null, GpuTensor? residual = null)
    {
        var device = VariantFor(d, precision);
        bool wanted = device == KernelVariant.TexelPointwise || (device == KernelVariant.Texel && d.Options.Kernels.Variant == null);
        return wanted && PointwiseApplies(w, past, x, strideT, strideHW, padding, y, residual)
            ? KernelVariant.TexelPointwise : VariantFor(d, precision, w, strideHW, outW);
    }

    /// <summary>
    /// Whether the pointwise kernel can run a call: a 1x1x1 kernel at stride 1 with Same padding and no past frames, on
    /// an input whose base element, frame stride and frame size (H*W) are multiples of 4, so that every 4 consecutive
    /// positions of a channel are one vec4 texel of one frame; the output and residual (when given) likewise, as the
    /// kernel reads and stores them 4 positions at a time.
    /// </summary>
    public static bool PointwiseApplies(ConvWeights w, GpuTensor? past, GpuTensor x, int strideT, int strideHW, ConvPadding padding,
        GpuTensor? y = null, GpuTensor? residual = null)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(x);
        return w.Kt == 1 && w.Kh == 1 && w.Kw == 1 && strideT == 1 && strideHW == 1 && padding == ConvPadding.Same
            && (past == null || past.T == 0) && x.Vec4Aligned && (y?.Vec4Aligned ?? true) && (residual?.Vec4Aligned ?? true);
    }

    /// <summary>Whether the row kernel can run a layer: 3 horizontal taps, spatial stride 1.</summary>
    public static bool RowsApply(ConvWeights w, int strideHW) => w.Kw == 3 && strideHW == 1;

    /// <summary>
    /// Whether the row kernel is the default for a layer on texel devices: where it applies, the output rows have at
    /// least 16 columns and the 16-column segments waste at most a third of their columns (a row of 17 would run two
    /// segments for 17 columns): below 16 columns half of each segment idles and the row kernel gains nothing over
    /// conv_texel (docs/performance.md, "Measurements formerly in code comments").
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
        var (tout, ho, wo) = CheckShapes(past, x, w, y, strideT, strideHW, padding, residual);
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
        var push = MakePush(past, x, w, y, residual, ho, wo, n, strideT, strideHW, padding);
        // fp16: the cooperative-matrix kernel where the device enabled it and it passed its first-use self-check
        // (CooperativeConv; WFVAE_COOPMAT=off turns it off), else the scalar conv_f16 kernels below.
        if (precision == Precision.Fp16 && CooperativeConv.Active(rec.Device))
        {
            CooperativeConv.Record(rec, push, past, x, w, y, residual, n, label);
            return;
        }
        var variant = VariantFor(rec.Device, precision, w, past, x, strideT, strideHW, padding, wo, y, residual);
        var tiles = TilesFor(rec.Device, variant, w.Cout, n);
        try { tiles.Validate(rec.Device, variant); }
        catch (ArgumentException e) when (rec.Device.Options.Kernels.Tiles != null)
        {
            throw new ArgumentException($"{DeviceOptions.TilesVariable}={rec.Device.Options.Kernels.Tiles}: {e.Message}", e);
        }
        LogChoice(rec.Device, label ?? "conv", w, n, variant, precision, tiles);
        var pipe = rec.Device.Pipelines.Get(Shader.Kernel((int)variant, precision), [tiles.WG, tiles.WGN, tiles.TM, tiles.TN, tiles.BK, tiles.Subgroup8 ? 1 : 0]);
        // The row kernel's invocations own segments of TN consecutive columns of one output row (WGN per workgroup).
        long groups = variant == KernelVariant.TexelRows
            ? Dispatch.CeilDiv(n / wo * Dispatch.CeilDiv(wo, tiles.TN), tiles.WGN)
            : Dispatch.CeilDiv(n, tiles.BN);
        var (gx, gy) = Dispatch.Linear(groups, 1);
        uint gz = Dispatch.CeilDiv(w.Cout, tiles.BM);
        // Operands in the order of each variant's bindings (collection expressions: no allocation per dispatch).
        if (variant == KernelVariant.Ssbo)
            rec.Dispatch(pipe, [Binding.Read(past ?? x), Binding.Read(x), Binding.Read(w.Packed), Binding.Read(residual ?? y), Binding.Written(y)],
                push, gx, gy, gz, label ?? "conv", Flops(w, y));
        else if (variant == KernelVariant.TexelPointwise)
            rec.Dispatch(pipe, [Binding.Texels4(x), Binding.Texels4(w.Packed), Binding.Read(residual ?? y), Binding.Written(y)],
                push, gx, gy, gz, label ?? "conv", Flops(w, y));
        else
            rec.Dispatch(pipe, [Binding.Texels(past ?? x), Binding.Texels(x), Binding.Texels4(w.Packed), Binding.Read(residual ?? y), Binding.Written(y)],
                push, gx, gy, gz, label ?? "conv", Flops(w, y));
    }

    /// <summary>The push constants of a direct-kernel dispatch (shapes checked by <see cref="CheckShapes"/>).</summary>
    private static Push MakePush(GpuTensor? past, GpuTensor x, ConvWeights w, GpuTensor y, GpuTensor? residual,
        int ho, int wo, long n, int strideT, int strideHW, ConvPadding padding)
    {
        int pad = padding == ConvPadding.Same ? 1 : 0;
        return new Push
        {
            PastBase = past?.BaseElement ?? 0, PastFrame = (uint)(past?.FrameStride ?? 0), PastT = (uint)(past?.T ?? 0),
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
    }

    /// <summary>Checks a <see cref="Forward"/> call's shapes and precisions; returns the output frames, rows and columns.</summary>
    private static (int T, int H, int W) CheckShapes(GpuTensor? past, GpuTensor x, ConvWeights w, GpuTensor y,
        int strideT, int strideHW, ConvPadding padding, GpuTensor? residual)
    {
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
        return (tout, ho, wo);
    }

    /// <summary>2·Cout·Cin·kt·kh·kw·Tout·Hout·Wout (docs/model.md#flops).</summary>
    public static long Flops(ConvWeights w, GpuTensor y) =>
        2L * w.Cout * w.Cin * w.Kt * w.Kh * w.Kw * y.T * y.H * y.W;
}

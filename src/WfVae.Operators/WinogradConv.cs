using System.Runtime.InteropServices;
using WfVae.Runtime;

namespace WfVae.Operators;

/// <summary>
/// Winograd convolution F(m×m, 3×3), m = 2 or 4, for every stride-1 convolution with a 3×3 spatial kernel and Same
/// padding: the per-frame 1×3×3 convs and the causal 3×3×3 convs, whose kt temporal taps accumulate in the transformed
/// domain (K = Cin·kt). Per output tile of m×m pixels it multiplies α² = (m+2)² transformed values instead of 9m²
/// products (F2: 2.25x fewer, F4: 4x fewer). Three phases per chunk of output frames (and tile rows):
/// <list type="number">
/// <item>shaders/winograd_input.comp: V = Bᵀ·d·B of every input tile of the chunk's frames (past ++ x) and channels;</item>
/// <item>shaders/winograd_gemm.comp: M[ξ] = Σ over (tap, Cin) of U[ξ]·V[ξ], one product per transform point ξ;</item>
/// <item>shaders/winograd_output.comp: Y = Aᵀ·M·A, + bias (+ residual), into the (possibly strided) output view.</item>
/// </list>
/// The weights were transformed once at load (<see cref="ConvWeights.UploadWinograd"/>), in parts of at most the device's
/// largest buffer (one product dispatch per part). V and M are float32 scratch
/// owned by the recorder (<see cref="CommandRecorder.Scratch"/>, so each session has its own), bounded by
/// <see cref="ScratchBudget"/>: a push larger than that runs in chunks. Every output's arithmetic is fixed by its position in its frame (tiles are aligned
/// to the frame origin) and by one fma chain over (tap, Cin) in ascending order, so it does not depend on the chunking,
/// on how many frames a push holds or on the kernel variant: streamed output equals whole-clip output bit for bit. It is
/// not bit-identical to the direct kernels (different arithmetic); measured error against them in docs/performance.md.
/// </summary>
public static partial class WinogradConv
{
    [StructLayout(LayoutKind.Sequential)]
    internal struct InputPush
    {
        public uint PastBase, PastFrame, PastT;
        public uint XBase, XFrame;
        public uint Cin, H, W;
        public uint F0, Frames;
        public uint Row0, TilesW;
        public uint Tiles, Tiles4;
        public uint VBase, VRow;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct GemmPush
    {
        public uint VBase4, VRow4, TapStride4, UBase4;
        public uint Cin, Kt, Cout, Cout4;
        public uint N, MBase, Point0;
        public ulong VAddr, UAddr;   // uvec2 in the shader: no 64-bit integers needed where they are unused
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct OutputPush
    {
        public uint MBase, N;
        public uint Cout, Frames;
        public uint Row0, TilesW;
        public uint Tiles, Tiles4;
        public uint Ho, Wo;
        public uint YBase, YFrame;
        public uint RBase, RFrame, HasRes;
        public uint BiasBase;
    }

    /// <summary>
    /// shaders/winograd_input.comp (bindings past, x, V scratch; specialization WG). Variants, in order: F4 and F2 with
    /// storage buffers (GPUs), F4 and F2 reading past and x through texel views (CPU drivers).
    /// </summary>
    public static ShaderFamily InputShader { get; } = ShaderFamily.Create<InputPush>("winograd_input", ["WG"], ShaderFamily.BothPrecisions,
        ShaderVariant.Plain(3),
        new ShaderVariant("f2", [BindingKind.Storage, BindingKind.Storage, BindingKind.Storage]),
        new ShaderVariant("texel", [BindingKind.Texels, BindingKind.Texels, BindingKind.Storage]),
        new ShaderVariant("texel_f2", [BindingKind.Texels, BindingKind.Texels, BindingKind.Storage]));

    /// <summary>
    /// shaders/winograd_gemm.comp (bindings V scratch, transformed weights, M scratch; specialization WG, WGN, TM, TN,
    /// BK). Variants: shared-memory tiles (GPUs), texel operands (CPU drivers), the texel kernel reading its operands
    /// through device addresses (binding: M scratch only; <see cref="UsesAddressLoads"/>).
    /// </summary>
    public static ShaderFamily GemmShader { get; } = ShaderFamily.Create<GemmPush>("winograd_gemm", ["WG", "WGN", "TM", "TN", "BK"], ShaderFamily.BothPrecisions,
        ShaderVariant.Plain(3),
        new ShaderVariant("texel", [BindingKind.Texels4, BindingKind.Texels4, BindingKind.Storage]),
        new ShaderVariant("address", [BindingKind.Storage]));

    /// <summary>
    /// shaders/winograd_output.comp (bindings M scratch, bias, residual, y; specialization
    /// WG). Variants as <see cref="InputShader"/>'s.
    /// </summary>
    public static ShaderFamily OutputShader { get; } = ShaderFamily.Create<OutputPush>("winograd_output", ["WG"], ShaderFamily.BothPrecisions,
        ShaderVariant.Plain(4),
        new ShaderVariant("f2", [.. Enumerable.Repeat(BindingKind.Storage, 4)]),
        new ShaderVariant("texel", [BindingKind.Texels, BindingKind.Storage, BindingKind.Storage, BindingKind.Storage]),
        new ShaderVariant("texel_f2", [BindingKind.Texels, BindingKind.Storage, BindingKind.Storage, BindingKind.Storage]));

    /// <summary>Transform points per tile, α² = (m + 2)²: 16 (F2) or 36 (F4).</summary>
    public static int Points(WinogradTile tile) => ((int)tile + 2) * ((int)tile + 2);

    /// <summary>"F(2x2,3x3)" or "F(4x4,3x3)".</summary>
    public static string Name(WinogradTile tile) => $"F({(int)tile}x{(int)tile},3x3)";

    /// <summary>
    /// Bytes of V + M scratch one chunk may use on a device (float32; <see cref="KernelOptions.WinogradScratchBytes"/>,
    /// default 32 MiB). Larger pushes run in chunks of output frames (or of tile rows, for frames larger than that);
    /// the chunking never changes the bits.
    /// </summary>
    public static long ScratchBudget(VulkanDevice d) => d.Options.Kernels.WinogradScratchBytes ?? 32L << 20;

    private const int ScratchV = 0x57490000, ScratchM = 0x57490001; // recorder scratch slots ("WI")

    /// <summary>Whether the Winograd kernels read their operands through texel views on this device (<see cref="Conv.UsesTexels"/>).</summary>
    public static bool UsesTexels(VulkanDevice d, Precision precision) => Conv.UsesTexels(d, precision);

    /// <summary>
    /// Whether the texel products read V and U through device addresses: <see cref="KernelOptions.AddressLoads"/>, else
    /// on lavapipe from Mesa 25, which compiles an address load into a vector gather but a texel fetch into a call to a
    /// sampling function (WF-VAE-L 9x64x64: the products in about 0.7x the time); Mesa 22.3 compiles an address load into a loop over
    /// the lanes (7x slower). Versions between were not measured. Same fma chains, same bits either way.
    /// </summary>
    public static bool UsesAddressLoads(VulkanDevice d) =>
        d.DeviceAddresses && (d.Options.Kernels.AddressLoads ?? (d.Info.Kind == DeviceKind.Cpu && d.Info.MesaVersion?.Major >= 25));

    /// <summary>How the Winograd kernels read their operands, as logs and `bench ops` name it: ssbo, texel or texel+address.</summary>
    public static string LoadsName(VulkanDevice d, bool texel) => !texel ? "ssbo" : UsesAddressLoads(d) ? "texel+address" : "texel";

    /// <summary>
    /// GEMM tiles (WG, WGN, TM, TN, BK) for <paramref name="n"/> columns, by
    /// device class. Any tiling gives the same bits.
    /// </summary>
    internal static (int WG, int WGN, int TM, int TN, int BK) GemmTiles(bool texel, long n)
    {
        if (!texel) return (256, 16, 4, 4, 16);
        // 16 channels per invocation with 4-row steps (docs/performance.md, "Measurements formerly in code comments"),
        // whatever the output channels: a narrower TM for the few 8-12-channel layers would be one more shader for
        // lavapipe to compile on a cold cache (~0.5 s) to save a fraction of a millisecond.
        const int tm = 16;
        var (wgn, tn) = TexelColumns(n);
        // Workgroups of whole SIMD rows (llvmpipe runs 8 invocations at a time): 4 invocations along the channels,
        // or 8 where 4 x WGN is not a multiple of 8.
        int wgm = 4 * wgn % 8 == 0 ? 4 : 8;
        return (wgm * wgn, wgn, tm, tn, 4);
    }

    /// <summary>
    /// Invocations along the columns (WGN) and columns per invocation (TN) of the texel product kernel. The cost is in
    /// the fetches of the transformed weights U (MiB per point, far more than the columns): every column block of a
    /// product re-reads them, and each invocation's fetch of U serves TN columns. Columns past <paramref name="n"/> cost
    /// as much as real ones. So up to <see cref="MaxTexelLaneColumns"/> columns (small frames, few frames) are one
    /// invocation's; more take 8 per invocation, one block of up to <see cref="MaxTexelWgn"/> invocations covering all
    /// where it can, else blocks that divide them with the least padding. n is a multiple of 4 (tiles of a frame are
    /// padded to 4).
    /// </summary>
    internal static (int WGN, int TN) TexelColumns(long n)
    {
        if (n <= MaxTexelLaneColumns) return (1, (int)Math.Max(4, n));
        long lanes = (n + 7) / 8;
        if (lanes <= MaxTexelWgn) return ((int)lanes, 8);
        int best = 8;
        long Padding(int wgn) => (lanes + wgn - 1) / wgn * wgn - lanes;
        for (int wgn = 8; wgn <= MaxTexelWgn; wgn++)
            if (Padding(wgn) <= Padding(best)) best = wgn;
        return (best, 8);
    }

    /// <summary>The most columns one invocation of the texel product kernel takes on its own (its accumulators: TM x this).</summary>
    private const int MaxTexelLaneColumns = 48;

    /// <summary>The most invocations along the columns of one texel product workgroup.</summary>
    private const int MaxTexelWgn = 16;

    /// <summary>
    /// Records y = conv(past ++ x) + bias (+ residual) for weights in the Winograd layout. The caller (Conv.Forward) has
    /// checked shapes and precisions; this checks that the layer is one Winograd can run.
    /// </summary>
    internal static void Forward(CommandRecorder rec, GpuTensor? past, GpuTensor x, ConvWeights w, GpuTensor y, GpuTensor? residual,
        int strideT, int strideHW, ConvPadding padding, Precision precision, string label)
    {
        var tile = w.Winograd!.Value;
        if (strideT != 1 || strideHW != 1 || padding != ConvPadding.Same)
            throw new ArgumentException($"conv {label}: its weights were transformed for Winograd {Name(tile)}, which runs stride-1 Same-padded convs only (this call: stride {strideT}x{strideHW}x{strideHW}, {padding} padding)");
        int m = (int)tile, pts = Points(tile);
        int tout = y.T, th = (y.H + m - 1) / m, tw = (y.W + m - 1) / m;
        var (tc, rc) = PlanChunks(ScratchBudget(rec.Device), pts, w.Cin, w.Cout, w.Kt, tout, th, tw);
        bool texel = UsesTexels(rec.Device, precision);
        Chunk At(int t0, int r0) => new(t0, Math.Min(tc, tout - t0), r0, Math.Min(rc, th - r0), tw);
        LogChoice(rec.Device, label, w, (long)tout * y.H * y.W, tile, texel, precision, At(0, 0), th);
        for (int t0 = 0; t0 < tout; t0 += tc)
            for (int r0 = 0; r0 < th; r0 += rc)
                RecordChunk(rec, past, x, w, y, residual, precision, texel, label, At(t0, r0));
    }

    /// <summary>Output frames [T0, T0 + Frames) and tile rows [Row0, Row0 + Rows) of one pass through the three phases.</summary>
    private readonly record struct Chunk(int T0, int Frames, int Row0, int Rows, int TilesW)
    {
        public int Tiles => Rows * TilesW;
        public int Tiles4 => (Tiles + 3) / 4 * 4;
        /// <summary>Columns of the pass's products: its frames' tiles, each frame's padded to 4.</summary>
        public long Columns => (long)Frames * Tiles4;
    }

    /// <summary>
    /// Frames and tile rows per chunk: everything when V + M fit in <paramref name="budget"/> bytes, else as many whole
    /// frames as fit, else one frame in bands of tile rows.
    /// </summary>
    internal static (int Frames, int Rows) PlanChunks(long budget, int pts, int cin, int cout, int kt, int tout, int th, int tw)
    {
        long Bytes(int frames, int rows) => 4L * pts * ((rows * tw + 3) / 4 * 4) * ((long)cin * (frames + kt - 1) + (long)cout * frames);
        if (Bytes(tout, th) <= budget) return (tout, th);
        if (Bytes(1, th) <= budget)
        {
            int f = 1;
            while (f < tout && Bytes(f + 1, th) <= budget) f++;
            return (f, th);
        }
        int r = 1;
        while (r < th && Bytes(1, r + 1) <= budget) r++;
        return (1, r);
    }

    private static void RecordChunk(CommandRecorder rec, GpuTensor? past, GpuTensor x, ConvWeights w, GpuTensor y, GpuTensor? residual,
        Precision precision, bool texel, string label, Chunk c)
    {
        var tile = w.Winograd!.Value;
        int pts = Points(tile), inFrames = c.Frames + w.Kt - 1;
        long n = c.Columns;
        var v = rec.Scratch(ScratchV, (long)pts * w.Cin * inFrames * c.Tiles4);
        var mt = rec.Scratch(ScratchM, pts * w.Cout * n);
        int variant = (texel ? 2 : 0) + (tile == WinogradTile.F2 ? 1 : 0);
        int group = texel ? TexelTileGroup : 1;
        var d = rec.Device;

        var inPush = new InputPush
        {
            PastBase = past?.BaseElement ?? 0, PastFrame = (uint)(past?.FrameStride ?? 0), PastT = (uint)(past?.T ?? 0),
            XBase = x.BaseElement, XFrame = (uint)x.FrameStride, Cin = (uint)x.C, H = (uint)x.H, W = (uint)x.W,
            F0 = (uint)c.T0, Frames = (uint)inFrames, Row0 = (uint)c.Row0, TilesW = (uint)c.TilesW,
            Tiles = (uint)c.Tiles, Tiles4 = (uint)c.Tiles4, VBase = v.BaseElement, VRow = (uint)(inFrames * c.Tiles4),
        };
        var (ix, iy) = Dispatch.Linear((long)inFrames * w.Cin * c.Tiles4 / group, 64);
        var inPipe = d.Pipelines.Get(InputShader.Kernel(variant, precision), [64]);
        if (texel)
            rec.Dispatch(inPipe, [Binding.Texels(past ?? x), Binding.Texels(x), Binding.Written(v)], inPush, ix, iy, 1, label);
        else
            rec.Dispatch(inPipe, [Binding.Read(past ?? x), Binding.Read(x), Binding.Written(v)], inPush, ix, iy, 1, label);

        RecordProducts(rec, w, y, v, mt, precision, texel, label, c);

        var yChunk = y.Frames(c.T0, c.Frames);
        var rChunk = residual?.Frames(c.T0, c.Frames);
        var outPush = new OutputPush
        {
            MBase = mt.BaseElement, N = (uint)n, Cout = (uint)w.Cout, Frames = (uint)c.Frames, Row0 = (uint)c.Row0, TilesW = (uint)c.TilesW,
            Tiles = (uint)c.Tiles, Tiles4 = (uint)c.Tiles4, Ho = (uint)y.H, Wo = (uint)y.W,
            YBase = yChunk.BaseElement, YFrame = (uint)y.FrameStride,
            RBase = rChunk?.BaseElement ?? 0, RFrame = (uint)(residual?.FrameStride ?? 0), HasRes = residual != null ? 1u : 0u,
            BiasBase = w.HasBias ? w.Packed.BaseElement : uint.MaxValue,
        };
        var (ox, oy) = Dispatch.Linear((long)c.Frames * w.Cout * c.Tiles, 64);
        var outPipe = d.Pipelines.Get(OutputShader.Kernel(variant, precision), [64]);
        rec.Dispatch(outPipe, [texel ? Binding.Texels(mt) : Binding.Read(mt), Binding.Read(w.Packed), Binding.Read(rChunk ?? yChunk), Binding.Written(yChunk)],
            outPush, ox, oy, 1, label);
    }

    /// <summary>
    /// Tiles per invocation of the texel input transform (CPU drivers): 4 consecutive tiles, so V is written as vec4s
    /// (a chunk's tiles are padded to a multiple of 4 per frame): about 0.8x the transform's time on lavapipe 22.3.
    /// </summary>
    private const int TexelTileGroup = 4;

    /// <summary>Phase 2 of a chunk: M[ξ] = Σ U[ξ]·V[ξ], one product dispatch per part of the transformed weights.</summary>
    private static void RecordProducts(CommandRecorder rec, ConvWeights w, GpuTensor y, GpuTensor v, GpuTensor mt, Precision precision,
        bool texel, string label, Chunk c)
    {
        var tile = w.Winograd!.Value;
        int pts = Points(tile), inFrames = c.Frames + w.Kt - 1;
        long n = c.Columns;
        var g = GemmTiles(texel, n);
        long flops = 2L * w.Cout * w.Cin * w.Kt * 9 * c.Frames * Math.Min(c.Rows * (int)tile, y.H - c.Row0 * (int)tile) * y.W;
        bool address = texel && UsesAddressLoads(rec.Device);
        var gemmPipe = rec.Device.Pipelines.Get(GemmShader.Kernel(address ? 2 : texel ? 1 : 0, precision), [g.WG, g.WGN, g.TM, g.TN, g.BK]);
        uint gx = Dispatch.CeilDiv(n, g.WGN * g.TN), gz = Dispatch.CeilDiv(w.Cout, g.WG / g.WGN * g.TM);
        // One product dispatch per part of the transformed weights (a range of points each, see ConvWeights.WinogradParts).
        for (int part = 0; part < w.WinogradParts.Count; part++)
        {
            var u = w.WinogradParts[part];
            int point0 = part * w.WinogradPointsPerPart, count = Math.Min(w.WinogradPointsPerPart, pts - point0);
            var gemmPush = new GemmPush
            {
                VBase4 = v.BaseElement / 4, VRow4 = (uint)(inFrames * c.Tiles4 / 4), TapStride4 = (uint)(c.Tiles4 / 4), UBase4 = u.BaseElement / 4,
                Cin = (uint)w.Cin, Kt = (uint)w.Kt, Cout = (uint)w.Cout, Cout4 = (uint)(w.CoutPad / 4), N = (uint)n, MBase = mt.BaseElement,
                Point0 = (uint)point0, VAddr = v.BlockAddress, UAddr = u.BlockAddress,
            };
            long partFlops = flops * count / pts;
            if (address)
            {
                rec.AccessesThroughAddresses([Binding.Read(v), Binding.Read(u)]);
                rec.Dispatch(gemmPipe, [Binding.Written(mt)], gemmPush, gx, (uint)count, gz, label, partFlops);
            }
            else if (texel)
                rec.Dispatch(gemmPipe, [Binding.Texels4(v), Binding.Texels4(u), Binding.Written(mt)], gemmPush, gx, (uint)count, gz, label, partFlops);
            else
                rec.Dispatch(gemmPipe, [Binding.Read(v), Binding.Read(u), Binding.Written(mt)], gemmPush, gx, (uint)count, gz, label, partFlops);
        }
    }

    private static void LogChoice(VulkanDevice d, string label, ConvWeights w, long n, WinogradTile tile, bool texel, Precision precision,
        Chunk first, int tileRows)
    {
        if (!d.Verbose) return;
        string chunk = first.Rows < tileRows ? $"bands of {first.Rows} of {tileRows} tile rows" : $"{first.Frames} frame(s) per pass";
        // The product tile of the first pass: it follows the pass's columns, so other pushes may use others (same bits).
        var g = GemmTiles(texel, first.Columns);
        Conv.LogKernel(d, label, w, n, $"winograd {Name(tile)} {LoadsName(d, texel)} {precision.Name()}, {chunk}, products {first.Columns} columns (WG {g.WG}, WGN {g.WGN}, TM {g.TM}, TN {g.TN}) [{ChoiceSource(d)}]");
    }

    /// <summary>
    /// Transforms official weights [Cout, Cin, kt, 3, 3] into U[ξ][tap][Cin][CoutPad] (output channel fastest, zero
    /// columns up to a multiple of 4): U = G·g·Gᵀ per (output channel, input channel, tap), in double, rounded once to float.
    /// </summary>
    public static float[] TransformWeights(ReadOnlySpan<float> weight, int cout, int cin, int kt, WinogradTile tile)
    {
        var gm = GMatrix(tile);
        int alpha = (int)tile + 2, pts = alpha * alpha, coutPad = (cout + 3) / 4 * 4;
        var packed = new float[(long)pts * kt * cin * coutPad];
        var wArr = weight.ToArray();
        Parallel.For(0, cout, o =>
        {
            Span<double> gg = stackalloc double[6 * 3];
            for (int i = 0; i < cin; i++)
                for (int a = 0; a < kt; a++)
                {
                    int src = ((o * cin + i) * kt + a) * 9;
                    for (int r = 0; r < alpha; r++)          // (G·g)[r][v]
                        for (int v = 0; v < 3; v++)
                            gg[r * 3 + v] = gm[r, 0] * wArr[src + v] + gm[r, 1] * wArr[src + 3 + v] + gm[r, 2] * wArr[src + 6 + v];
                    for (int r = 0; r < alpha; r++)          // ((G·g)·Gᵀ)[r][s]
                        for (int s = 0; s < alpha; s++)
                        {
                            double u = gg[r * 3] * gm[s, 0] + gg[r * 3 + 1] * gm[s, 1] + gg[r * 3 + 2] * gm[s, 2];
                            packed[(((long)(r * alpha + s) * kt + a) * cin + i) * coutPad + o] = (float)u;
                        }
                }
        });
        return packed;
    }

    /// <summary>The weight transform G (α × 3) of the interpolation points in shaders/winograd.glsl.</summary>
    public static double[,] GMatrix(WinogradTile tile) => tile == WinogradTile.F2
        ? new double[,] { { 1, 0, 0 }, { 0.5, 0.5, 0.5 }, { 0.5, -0.5, 0.5 }, { 0, 0, 1 } }
        : new double[,]
        {
            { 1, 0, 0 }, { -1.0 / 3, -1.0 / 3, -1.0 / 3 }, { 1.0 / 3, -1.0 / 3, 1.0 / 3 },
            { 1.0 / 15, 2.0 / 15, 4.0 / 15 }, { -16.0 / 15, 8.0 / 15, -4.0 / 15 }, { 0, 0, 1 },
        };
}

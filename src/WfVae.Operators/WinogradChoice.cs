using WfVae.Runtime;

namespace WfVae.Operators;

public static partial class WinogradConv
{
    /// <summary>The device's mode (<see cref="KernelOptions.WinogradInForce"/>), and where it comes from (for --verbose).</summary>
    public static (WinogradMode Mode, string Source) CurrentMode(VulkanDevice d)
    {
        ArgumentNullException.ThrowIfNull(d);
        var k = d.Options.Kernels;
        if (k.Winograd is { } m) return (m, $"{DeviceOptions.VariantVariable} or the device options");
        return k.Variant != null ? (WinogradMode.Off, "a forced direct variant") : (WinogradMode.Auto, "auto");
    }

    private static string ChoiceSource(VulkanDevice d)
    {
        var (mode, source) = CurrentMode(d);
        return mode == WinogradMode.Auto ? $"{d.Info.Kind} default" : $"{mode} by {source}";
    }

    /// <summary>Whether Winograd can run a layer: a 3×3 spatial kernel at stride 1 in time and space, Same padding.</summary>
    public static bool Applies(int kh, int kw, int strideT, int strideHW, ConvPadding padding) =>
        kh == 3 && kw == 3 && strideT == 1 && strideHW == 1 && padding == ConvPadding.Same;

    /// <summary>
    /// The layout a layer's weights are loaded in: a Winograd tile, or null for the direct kernels. Decided once, at load,
    /// from the device class, the precision and the layer's shape (never from a push's frame count, so streamed and
    /// whole-clip runs use the same arithmetic). Convs without a 3×3 spatial kernel are direct in every mode; a forced
    /// Winograd mode refuses a 3×3 conv it cannot run (stride 2, right/bottom padding) with an error naming the layer.
    /// </summary>
    public static WinogradTile? TileFor(VulkanDevice d, Precision precision, int kt, int kh, int kw,
        int strideT, int strideHW, ConvPadding padding, string layer)
    {
        ArgumentNullException.ThrowIfNull(d);
        if (kh != 3 || kw != 3) return null;
        var (mode, source) = CurrentMode(d);
        bool applies = Applies(kh, kw, strideT, strideHW, padding);
        switch (mode)
        {
            case WinogradMode.Off:
                return null;
            case WinogradMode.Auto:
                return applies ? AutoTile(d, precision) : null;
        }
        if (!applies)
            throw new ArgumentException($"conv {layer}: {mode} Winograd (set by {source}) cannot run this {kt}x{kh}x{kw} conv with stride {strideT}x{strideHW}x{strideHW} and {padding} padding; Winograd runs stride-1 Same-padded 3x3 convs only");
        var tile = d.Options.Kernels.WinogradTile ?? DefaultTile(d, precision);
        if (!Offers(tile, precision))
            throw new ArgumentException($"conv {layer}: {mode} Winograd (set by {source}) {Name(tile)} is not offered in {precision.Name()}; use winograd-f2 or fp32");
        return tile;
    }

    /// <summary>
    /// The tile of a device where Winograd runs: its forced tile (<see cref="KernelOptions.WinogradTile"/>) where it is
    /// offered in <paramref name="precision"/>, else F(4x4,3x3) in fp32 and F(2x2,3x3) in fp16 (see <see cref="Offers"/>).
    /// </summary>
    public static WinogradTile DefaultTile(VulkanDevice d, Precision precision) =>
        d.Options.Kernels.WinogradTile is { } t && Offers(t, precision) ? t : precision == Precision.Fp16 ? WinogradTile.F2 : WinogradTile.F4;

    /// <summary>
    /// Whether a tile runs in a precision. F(4x4,3x3) is fp32 only: its transformed weights span a wider range than the
    /// weights (G has entries from 1/15 to 16/15, Bᵀ and Aᵀ scale by up to 8), and rounding them to halves cost 4-7e-3 of
    /// rms per conv in the operator tests, against ~1.3e-3 for F(2x2,3x3) and the direct kernels (the output rounding).
    /// </summary>
    public static bool Offers(WinogradTile tile, Precision precision) => precision == Precision.Fp32 || tile == WinogradTile.F2;

    /// <summary>
    /// The automatic choice for a layer Winograd can run. CPU drivers (lavapipe): <see cref="DefaultTile"/>. GPUs: direct kernels, until
    /// the Winograd kernels are measured on one (they are verified on lavapipe only; docs/performance.md).
    /// </summary>
    public static WinogradTile? AutoTile(VulkanDevice d, Precision precision)
    {
        ArgumentNullException.ThrowIfNull(d);
        if (d.Info.Kind != DeviceKind.Cpu || !Conv.TexelUsable(d, precision)) return null;
        return DefaultTile(d, precision);
    }
}

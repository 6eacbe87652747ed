using WfVae.Runtime;

namespace WfVae.Operators;

/// <summary>Output tile of a Winograd convolution F(m×m, 3×3): 2 or 4 output rows and columns per tile.</summary>
public enum WinogradTile
{
    F2 = 2,
    F4 = 4,
}

public sealed partial class ConvWeights
{
    /// <summary>
    /// Null: the direct layout of shaders/conv.comp. Otherwise the Winograd tile these weights were transformed for at
    /// load (<see cref="UploadWinograd"/>): <see cref="Packed"/> then holds U = G·g·Gᵀ in the layout of
    /// shaders/winograd_gemm.comp, and only <see cref="WinogradConv"/> can run them.
    /// </summary>
    public WinogradTile? Winograd { get; }

    private ConvWeights(GpuTensor packed, int cout, int cin, int kt, bool hasBias, WinogradTile tile)
        : this(packed, cout, cin, kt, 3, 3, hasBias) => Winograd = tile;

    /// <summary>Elements of the transformed weights before the bias: α²·kt·Cin·CoutPad (α = tile + 2).</summary>
    internal long WinogradBiasOffset => Winograd is { } t ? WinogradConv.Points(t) * Kt * Cin * CoutPad : throw new InvalidOperationException($"{this} is not in the Winograd layout");

    /// <summary>
    /// Uploads official weights [Cout, Cin, kt, 3, 3] (kt = 1 for a 2D conv) and the bias [Cout] (empty = none) for a
    /// Winograd convolution with output tile <paramref name="tile"/>: the weight transform U = G·g·Gᵀ of every
    /// (output channel, input channel, temporal tap) is computed here, once, in double precision, and stored in
    /// <paramref name="precision"/>. The direct layout is not kept (U is α²/9 = 1.8x (F2) or 4x (F4) its size). F4 is fp32
    /// only (<see cref="WinogradConv.Offers"/>).
    /// </summary>
    public static ConvWeights UploadWinograd(VulkanDevice d, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, int cout, int cin, int kt,
        WinogradTile tile, Precision precision = Precision.Fp32)
    {
        ArgumentNullException.ThrowIfNull(d);
        if (cout <= 0 || cin <= 0 || kt <= 0)
            throw new ArgumentException($"conv weights: invalid shape [{cout}, {cin}, {kt}, 3, 3]");
        long count = (long)cout * cin * kt * 9;
        if (weight.Length != count)
            throw new ArgumentException($"conv weights: {weight.Length} values given, [{cout}, {cin}, {kt}, 3, 3] needs {count}");
        if (bias.Length != 0 && bias.Length != cout)
            throw new ArgumentException($"conv bias: {bias.Length} values given, expected {cout} (or none)");
        if (!WinogradConv.Offers(tile, precision))
            throw new ArgumentException($"conv weights: Winograd {WinogradConv.Name(tile)} is not offered in {precision.Name()} (its transformed weights lose 4-7e-3 of rms in halves); use F(2x2,3x3) or fp32");
        var packed = WinogradConv.TransformWeights(weight, bias, cout, cin, kt, tile);
        var tensor = d.Upload(packed, 1, 1, 1, packed.Length, precision);
        return new ConvWeights(tensor, cout, cin, kt, bias.Length != 0, tile);
    }
}

using WfVae.Runtime;

namespace WfVae.Operators;

public sealed partial class ConvWeights
{
    private GpuTensor[] _winogradParts = [];

    /// <summary>
    /// Null: the direct layout of shaders/conv.comp. Otherwise the Winograd tile these weights were transformed for at
    /// load (<see cref="UploadWinograd"/>): <see cref="WinogradParts"/> hold U = G·g·Gᵀ in the layout of
    /// shaders/winograd_gemm.comp, <see cref="Packed"/> holds only the bias, and only <see cref="WinogradConv"/> runs them.
    /// </summary>
    public WinogradTile? Winograd { get; }

    /// <summary>
    /// The transformed weights U[ξ][tap][Cin][CoutPad] in consecutive ranges of transform points ξ, one device buffer each
    /// (<see cref="WinogradPointsPerPart"/> points per part): U is up to 4x the weights and would exceed the largest
    /// buffer a device binds (128 MiB on lavapipe) for WF-VAE-L's 768- and 896-channel layers.
    /// </summary>
    public IReadOnlyList<GpuTensor> WinogradParts => _winogradParts;

    /// <summary>Transform points per part of <see cref="WinogradParts"/> (the last part may hold fewer).</summary>
    public int WinogradPointsPerPart { get; }

    private ConvWeights(GpuTensor bias, GpuTensor[] parts, int pointsPerPart, int cout, int cin, int kt, bool hasBias, WinogradTile tile)
        : this(bias, cout, cin, kt, 3, 3, hasBias)
    {
        Winograd = tile;
        _winogradParts = parts;
        WinogradPointsPerPart = pointsPerPart;
    }

    private void DisposeWinogradParts()
    {
        foreach (var p in _winogradParts) p.Dispose();
        _winogradParts = [];
    }

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
        var u = WinogradConv.TransformWeights(weight, cout, cin, kt, tile);
        int points = WinogradConv.Points(tile), coutPad = (cout + 3) / 4 * 4;
        long pointElements = (long)kt * cin * coutPad;
        long perPart = d.Memory.MaxAllocationBytes / (pointElements * precision.ElementBytes());
        if (perPart < 1)
            throw new ArgumentException($"conv weights [{cout}, {cin}, {kt}, 3, 3]: one Winograd transform point ({pointElements * precision.ElementBytes():N0} bytes) exceeds the device's largest buffer");
        int ppp = (int)Math.Min(points, perPart);
        var parts = new List<GpuTensor>();
        var biasPacked = new float[coutPad];
        bias.CopyTo(biasPacked);
        var biasTensor = d.Upload(biasPacked, 1, 1, 1, coutPad, precision);
        try
        {
            for (int p0 = 0; p0 < points; p0 += ppp)
            {
                int n = Math.Min(ppp, points - p0);
                parts.Add(d.Upload(u.AsSpan((int)(p0 * pointElements), (int)(n * pointElements)), 1, 1, 1, (int)(n * pointElements), precision));
            }
        }
        catch
        {
            biasTensor.Dispose();
            foreach (var p in parts) p.Dispose();
            throw;
        }
        return new ConvWeights(biasTensor, parts.ToArray(), ppp, cout, cin, kt, bias.Length != 0, tile);
    }
}

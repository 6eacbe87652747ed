using WfVae.Runtime;

namespace WfVae.Operators;

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

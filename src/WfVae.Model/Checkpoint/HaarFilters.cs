namespace WfVae.Model.Checkpoint;

/// <summary>
/// The fixed Haar filter constants of docs/model.md#wavelets, the values a checkpoint's filter tensors must hold.
/// </summary>
public static class HaarFilters
{
    /// <summary>
    /// The 3D constant as the official code writes it (0.3536, float32 0.35359999537), deliberately
    /// not 1/(2*sqrt 2): the model was trained with it and the difference is measurable.
    /// </summary>
    public const float Kappa3D = 0.3536f;

    public const float Scale2D = 0.5f;

    /// <summary>3D sub-bands f = 0..7; bit 2 = time high-pass, bit 1 = H, bit 0 = W.</summary>
    public static IReadOnlyList<string> SubBands3D { get; } = ["h", "g", "hh", "gh", "h_v", "g_v", "hh_v", "gh_v"];

    /// <summary>2D sub-bands g = 0..3; bit 0 = H (rows) high-pass, bit 1 = W. Note the swap against 3D.</summary>
    public static IReadOnlyList<string> SubBands2D { get; } = ["aa", "ad", "da", "dd"];

    /// <summary>Kernel [1,1,2,2,2] of 3D sub-band f, row-major over (a, b, c) = (time, row, column) taps.</summary>
    public static float[] Kernel3D(int f)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(f);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(f, 7);
        int bt = (f >> 2) & 1, bh = (f >> 1) & 1, bw = f & 1;
        var k = new float[8];
        for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++)
        for (int c = 0; c < 2; c++)
            k[a * 4 + b * 2 + c] = ((bt * a + bh * b + bw * c) & 1) == 0 ? Kappa3D : -Kappa3D;
        return k;
    }

    /// <summary>Kernel [1,1,2,2] of 2D sub-band g, row-major over (b, c) = (row, column) taps.</summary>
    public static float[] Kernel2D(int g)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(g);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(g, 3);
        int bh = g & 1, bw = (g >> 1) & 1;
        var k = new float[4];
        for (int b = 0; b < 2; b++)
        for (int c = 0; c < 2; c++)
            k[b * 2 + c] = ((bh * b + bw * c) & 1) == 0 ? Scale2D : -Scale2D;
        return k;
    }
}

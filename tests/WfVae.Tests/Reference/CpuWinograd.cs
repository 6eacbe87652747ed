namespace WfVae.Tests.Reference;

/// <summary>
/// Plain CPU reference of the Winograd convolution F(m×m, 3×3) (m = 2 or 4) in float32, with the same steps as the
/// shaders: V = Bᵀ·d·B per input tile (zero padding outside the frame), M = one fused multiply-add chain over (tap,
/// input channel) in ascending order of U·V, Y = Aᵀ·M·A + bias. Its own copy of the matrices, written out from the
/// interpolation points (F2: 0, ±1, ∞; F4: 0, 1, −1, 2, −1/2, ∞), and U = G·g·Gᵀ in double. Against the direct conv
/// (CpuOps) it shows the algorithm's own rounding error; against the GPU, the kernels' indexing.
/// </summary>
public static class CpuWinograd
{
    private static readonly float[,] Bt2 = { { 1, 0, -1, 0 }, { 0, 1, 1, 0 }, { 0, -1, 1, 0 }, { 0, 1, 0, -1 } };
    private static readonly float[,] At2 = { { 1, 1, 1, 0 }, { 0, 1, -1, -1 } };
    private static readonly double[,] G2 = { { 1, 0, 0 }, { 0.5, 0.5, 0.5 }, { 0.5, -0.5, 0.5 }, { 0, 0, 1 } };

    private static readonly float[,] Bt4 =
    {
        { 1, 1.5f, -2, -1.5f, 1, 0 }, { 0, -1, -2.5f, -0.5f, 1, 0 }, { 0, 1, 0.5f, -2.5f, 1, 0 },
        { 0, -0.5f, -1, 0.5f, 1, 0 }, { 0, 2, -1, -2, 1, 0 }, { 0, 1, 1.5f, -2, -1.5f, 1 },
    };
    private static readonly float[,] At4 =
    {
        { 1, 1, 1, 1, 1, 0 }, { 0, 1, -1, 2, -0.5f, 0 }, { 0, 1, 1, 4, 0.25f, 0 }, { 0, 1, -1, 8, -0.125f, 1 },
    };
    private static readonly double[,] G4 =
    {
        { 1, 0, 0 }, { -1.0 / 3, -1.0 / 3, -1.0 / 3 }, { 1.0 / 3, -1.0 / 3, 1.0 / 3 },
        { 1.0 / 15, 2.0 / 15, 4.0 / 15 }, { -16.0 / 15, 8.0 / 15, -4.0 / 15 }, { 0, 0, 1 },
    };

    /// <summary>
    /// Conv of the virtual frame sequence <paramref name="v"/> (past frames already prepended) with weights
    /// [cout, v.C, kt, 3, 3], temporal stride 1, spatial stride 1 and padding 1: output frame j reads frames j..j+kt−1.
    /// </summary>
    public static CpuTensor Conv(CpuTensor v, float[] weight, float[]? bias, int cout, int kt, int m)
    {
        var (bt, at, g) = m == 2 ? (Bt2, At2, G2) : (Bt4, At4, G4);
        int a = m + 2, cin = v.C, tout = v.T - kt + 1, th = (v.H + m - 1) / m, tw = (v.W + m - 1) / m;
        var u = TransformWeights(weight, cout, cin, kt, g);                       // [co][ci][tap][a*a]
        var vt = new float[v.T, cin, th * tw, a * a];
        for (int f = 0; f < v.T; f++)
            for (int c = 0; c < cin; c++)
                for (int q = 0; q < th * tw; q++)
                {
                    var d = new float[a, a];
                    for (int r = 0; r < a; r++)
                        for (int s = 0; s < a; s++)
                        {
                            int y = q / tw * m - 1 + r, x = q % tw * m - 1 + s;
                            d[r, s] = y >= 0 && y < v.H && x >= 0 && x < v.W ? v[c, f, y, x] : 0f;
                        }
                    var t = Sandwich(bt, d, a, a);
                    for (int i = 0; i < a * a; i++) vt[f, c, q, i] = t[i / a, i % a];
                }
        var y0 = new CpuTensor(cout, tout, v.H, v.W);
        for (int j = 0; j < tout; j++)
            for (int o = 0; o < cout; o++)
                for (int q = 0; q < th * tw; q++)
                {
                    var mm = new float[a, a];
                    for (int i = 0; i < a * a; i++)
                    {
                        float acc = 0;
                        for (int tap = 0; tap < kt; tap++)
                            for (int c = 0; c < cin; c++)
                                acc = MathF.FusedMultiplyAdd(u[o, c, tap, i], vt[j + tap, c, q, i], acc);
                        mm[i / a, i % a] = acc;
                    }
                    var yt = Sandwich(at, mm, m, a);
                    for (int r = 0; r < m; r++)
                        for (int s = 0; s < m; s++)
                        {
                            int y = q / tw * m + r, x = q % tw * m + s;
                            if (y < v.H && x < v.W) y0[o, j, y, x] = yt[r, s] + (bias == null ? 0f : bias[o]);
                        }
                }
        return y0;
    }

    /// <summary>L·X·Lᵀ in float for an <paramref name="rows"/> × <paramref name="cols"/> matrix L.</summary>
    private static float[,] Sandwich(float[,] l, float[,] x, int rows, int cols)
    {
        var t = new float[rows, cols];
        for (int i = 0; i < rows; i++)
            for (int s = 0; s < cols; s++)
            {
                float acc = 0;
                for (int r = 0; r < cols; r++) acc += l[i, r] * x[r, s];
                t[i, s] = acc;
            }
        var o = new float[rows, rows];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < rows; j++)
            {
                float acc = 0;
                for (int s = 0; s < cols; s++) acc += t[i, s] * l[j, s];
                o[i, j] = acc;
            }
        return o;
    }

    private static float[,,,] TransformWeights(float[] w, int cout, int cin, int kt, double[,] g)
    {
        int a = g.GetLength(0);
        var u = new float[cout, cin, kt, a * a];
        for (int o = 0; o < cout; o++)
            for (int c = 0; c < cin; c++)
                for (int tap = 0; tap < kt; tap++)
                    for (int x = 0; x < a; x++)
                        for (int y = 0; y < a; y++)
                        {
                            double acc = 0;
                            for (int r = 0; r < 3; r++)
                                for (int s = 0; s < 3; s++)
                                    acc += g[x, r] * w[(((o * cin + c) * kt + tap) * 3 + r) * 3 + s] * g[y, s];
                            u[o, c, tap, x * a + y] = (float)acc;
                        }
        return u;
    }
}

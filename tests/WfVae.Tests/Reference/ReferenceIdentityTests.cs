using Xunit;

namespace WfVae.Tests.Reference;

/// <summary>Algebraic identities of the operators and the interpolation tables of docs/model.md#upsampling.</summary>
public sealed class ReferenceIdentityTests
{
    private const double Tol = ReferenceTolerance.Identity;

    [Fact]
    public void Haar2D_RoundTrip_IsIdentity()
    {
        var x = CpuTensor.Random(5, 3, 8, 12, seed: 11);
        var r = CpuOps.InverseHaar2D(CpuOps.Haar2D(x));
        Assert.True(CpuTensor.MaxAbsDiff(r, x) <= Tol, $"max abs diff {CpuTensor.MaxAbsDiff(r, x):E3}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(9)]
    public void Haar3D_RoundTrip_ScalesBy8KappaSquared(int t)
    {
        var x = CpuTensor.Random(3, t, 8, 6, seed: 12 + t);
        var r = CpuOps.InverseHaar3D(CpuOps.Haar3D(x));
        Assert.Equal(x.Shape, r.Shape);
        double gain = 8.0 * CpuOps.Kappa * CpuOps.Kappa;
        Assert.InRange(gain, 1.000263, 1.000265); // not 1: κ = 0.3536f, not 1/(2√2)
        double m = 0;
        for (int i = 0; i < x.Length; i++) m = Math.Max(m, Math.Abs(r.Data[i] - gain * x.Data[i]));
        Assert.True(m <= Tol, $"T={t}: max |InvHaar3D(Haar3D(x)) − 8κ²x| = {m:E3}");
    }

    [Fact]
    public void Haar3D_Frame0TimeHighBands_AreZero()
    {
        var y = CpuOps.Haar3D(CpuTensor.Random(3, 5, 4, 4, seed: 3));
        for (int ch = 12; ch < 24; ch++)
            for (int p = 0; p < 4; p++) Assert.Equal(0f, y[ch, 0, p / 2, p % 2]);
    }

    /// <summary>Tensor whose frame i is constant 10^i (channel c adds c), to read interpolation weights.</summary>
    private static CpuTensor Frames(int t)
    {
        var m = new CpuTensor(2, t, 2, 3);
        for (int c = 0; c < 2; c++) for (int i = 0; i < t; i++) for (int p = 0; p < 6; p++) m[c, i, p / 3, p % 3] = MathF.Pow(10, i) + c;
        return m;
    }

    private static void AssertFrames(CpuTensor u, params Func<int, int, float>[] expected)
    {
        Assert.Equal(expected.Length, u.T);
        for (int n = 0; n < u.T; n++)
            for (int c = 0; c < u.C; c++)
                for (int p = 0; p < u.H * u.W; p++)
                    Assert.True(Math.Abs(u[c, n, p / u.W, p % u.W] - expected[n](c, 0)) <= 1e-4,
                        $"frame {n}, channel {c}: {u[c, n, p / u.W, p % u.W]} vs {expected[n](c, 0)}");
    }

    [Fact]
    public void TemporalUpsample_Trilinear_T2_Table()
    {
        // t = 2 → U = [M0, M1, M1]
        var m = Frames(2);
        float M(int i, int c) => MathF.Pow(10, i) + c;
        AssertFrames(CpuOps.TemporalUpsample2x(m, TemporalInterpolation.Trilinear),
            (c, _) => M(0, c), (c, _) => M(1, c), (c, _) => M(1, c));
    }

    [Fact]
    public void TemporalUpsample_Trilinear_T3_Table()
    {
        // t = 3 → [M0, M1, .75M1+.25M2, .25M1+.75M2, M2]
        var m = Frames(3);
        float M(int i, int c) => MathF.Pow(10, i) + c;
        AssertFrames(CpuOps.TemporalUpsample2x(m, TemporalInterpolation.Trilinear),
            (c, _) => M(0, c), (c, _) => M(1, c), (c, _) => 0.75f * M(1, c) + 0.25f * M(2, c),
            (c, _) => 0.25f * M(1, c) + 0.75f * M(2, c), (c, _) => M(2, c));
    }

    [Fact]
    public void TemporalUpsample_Trilinear_T4_Table()
    {
        // general rows of docs/model.md#upsampling: U[2j−1] = .25M[j−1] + .75M[j] (j ≥ 2), U[2j] = .75M[j] + .25M[j+1], last = M[t−1]
        var m = Frames(4);
        float M(int i, int c) => MathF.Pow(10, i) + c;
        AssertFrames(CpuOps.TemporalUpsample2x(m, TemporalInterpolation.Trilinear),
            (c, _) => M(0, c), (c, _) => M(1, c), (c, _) => 0.75f * M(1, c) + 0.25f * M(2, c),
            (c, _) => 0.25f * M(1, c) + 0.75f * M(2, c), (c, _) => 0.75f * M(2, c) + 0.25f * M(3, c),
            (c, _) => 0.25f * M(2, c) + 0.75f * M(3, c), (c, _) => M(3, c));
    }

    [Fact]
    public void TemporalUpsample_Nearest_And_T1()
    {
        var m = Frames(3);
        float M(int i, int c) => MathF.Pow(10, i) + c;
        AssertFrames(CpuOps.TemporalUpsample2x(m, TemporalInterpolation.Nearest),
            (c, _) => M(0, c), (c, _) => M(1, c), (c, _) => M(1, c), (c, _) => M(2, c), (c, _) => M(2, c));
        var one = Frames(1);
        Assert.Equal(one.Data, CpuOps.TemporalUpsample2x(one, TemporalInterpolation.Trilinear).Data);
    }

    [Fact]
    public void BilinearUpsample_RowTable()
    {
        // one axis of length h = 3: rows [r0, .75r0+.25r1, .25r0+.75r1, .75r1+.25r2, .25r1+.75r2, r2]
        var x = new CpuTensor(1, 1, 3, 1);
        x[0, 0, 0, 0] = 1; x[0, 0, 1, 0] = 10; x[0, 0, 2, 0] = 100;
        var u = CpuOps.BilinearUpsample2x(x);
        float[] expected = { 1, 3.25f, 7.75f, 32.5f, 77.5f, 100 };
        Assert.Equal((1, 1, 6, 2), u.Shape);
        for (int r = 0; r < 6; r++)
            for (int c = 0; c < 2; c++) Assert.True(Math.Abs(u[0, 0, r, c] - expected[r]) <= 1e-5, $"row {r}: {u[0, 0, r, c]}");
    }

    [Fact]
    public void FrameMajor_RoundTrip_AndLayout()
    {
        var x = CpuTensor.Random(3, 4, 2, 5, seed: 7);
        var fm = x.ToFrameMajor();
        Assert.Equal(x[2, 1, 1, 3], fm[((1 * 3 + 2) * 2 + 1) * 5 + 3]);
        Assert.Equal(x.Data, CpuTensor.FromFrameMajor(fm, 3, 4, 2, 5).Data);
    }

    [Fact]
    public void SliceConcat_RoundTrip()
    {
        var x = CpuTensor.Random(5, 4, 3, 2, seed: 8);
        Assert.Equal(x.Data, CpuTensor.ConcatChannels(x.SliceChannels(0, 2), x.SliceChannels(2, 3)).Data);
        Assert.Equal(x.Data, CpuTensor.ConcatFrames(x.SliceFrames(0, 1), x.SliceFrames(1, 3)).Data);
        Assert.Equal(x[3, 2, 1, 1], x.SliceFrames(1, 3)[3, 1, 1, 1]);
    }

    [Fact]
    public void CausalConv3d_ReplicatesFrame0_AndConv2dIsPerFrame()
    {
        // 1 → 1 channel, kernel picking the oldest frame tap (a = 0) at the centre pixel:
        // output frame j = input frame max(0, j − 2).
        var x = Frames(4).SliceChannels(0, 1);
        var w = new float[27]; w[0 * 9 + 4] = 1;
        var y = CpuOps.CausalConv3d(x, w, null, 1, 3);
        for (int j = 0; j < 4; j++) Assert.Equal(x[0, Math.Max(0, j - 2), 0, 0], y[0, j, 0, 0]);
        var w2 = new float[9]; w2[4] = 2;
        var y2 = CpuOps.Conv2d(x, w2, new[] { 1f }, 1, 3);
        for (int j = 0; j < 4; j++) Assert.Equal(2 * x[0, j, 1, 2] + 1, y2[0, j, 1, 2]);
    }

    [Fact]
    public void RelErr_IsMaxAbsOverRms()
    {
        var e = new CpuTensor(1, 1, 1, 4, new float[] { 1, -1, 1, -1 });
        var a = new CpuTensor(1, 1, 1, 4, new float[] { 1, -1, 1.5f, -1 });
        Assert.Equal(0.5, CpuTensor.MaxAbsDiff(a, e), 12);
        Assert.Equal(0.5, CpuTensor.RelErr(a, e), 12);
        Assert.Equal(1.0, CpuTensor.RelErr(new CpuTensor(1, 1, 1, 1, new[] { 1e-6f }), new CpuTensor(1, 1, 1, 1)), 6);
    }
}
